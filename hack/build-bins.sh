#!/usr/bin/env bash
# Builds the local cluster's binaries from the Go module proxy into a cache outside the checkout:
#   $SANDBOXMESH_CACHE/k8s/<version>/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,
#                                         kubelet,kube-proxy}
#   $SANDBOXMESH_CACHE/etcd/<version>/bin/etcd
#   $SANDBOXMESH_CACHE/kwok/<version>/bin/kwok and .../stages/*.yaml (the release's default stages)
#   $SANDBOXMESH_CACHE/helm/<version>/bin/helm
#   $SANDBOXMESH_CACHE/coredns/<version>/bin/coredns
#   $SANDBOXMESH_CACHE/critools/<version>/bin/crictl
#   $SANDBOXMESH_CACHE/pause/<version>/bin/pause
# Versions come from the wrapper modules in hack/gobuild/*/go.mod. A component already built
# is skipped; a build goes to a temporary directory and is renamed into place only when whole.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${SANDBOXMESH_CACHE:-$HOME/.cache/sandboxmesh}
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

module_version() { # module_version DIR MODULE -> the version DIR/go.mod requires
  awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1/go.mod"
}

done_already() { # done_already DEST BIN...
  local dest=$1; shift
  [ -f "$dest/.complete" ] || return 1
  for bin in "$@"; do [ -x "$dest/bin/$bin" ] || return 1; done
}

build() { # build COMPONENT VERSION BINS... -- GO BUILD ARGS...
  local component=$1 version=$2; shift 2
  local bins=()
  while [ "$1" != "--" ]; do bins+=("$1"); shift; done
  shift
  local dest=$cache/$component/$version
  if done_already "$dest" "${bins[@]}"; then
    echo "build-bins: $component $version already built in $dest"
    return
  fi
  echo "build-bins: building $component $version (${bins[*]}) ..."
  local started=$SECONDS tmp
  mkdir -p "$cache/$component"
  tmp=$(mktemp -d "$cache/$component/.build-$version.XXXXXX")
  (cd "$here/gobuild/$component" && go build -trimpath -o "$tmp/bin/" "$@")
  [ "$component" = kwok ] && copy_kwok_stages "$tmp"
  touch "$tmp/.complete"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  echo "build-bins: built $component $version in $((SECONDS - started))s"
}

copy_kwok_stages() { # the stages kwokctl installs by default, from the release's own module
  local dir
  dir=$(cd "$here/gobuild/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  mkdir -p "$1/stages"
  cp "$dir/kustomize/stage/node/fast/node-initialize.yaml" \
     "$dir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
     "$dir/kustomize/stage/pod/fast/pod-ready.yaml" \
     "$dir/kustomize/stage/pod/fast/pod-complete.yaml" \
     "$dir/kustomize/stage/pod/fast/pod-delete.yaml" "$1/stages/"
  chmod u+w "$1"/stages/*.yaml
}

k8s=$(module_version "$here/gobuild/k8s" k8s.io/kubernetes)
minor=${k8s#v1.}; minor=${minor%%.*}
version_pkg=k8s.io/component-base/version
# The version variables make /version and `kubectl version` tell the truth; without them
# the components report v0.0.0-master and compatibility-version checks misbehave.
k8s_ldflags="-s -w -X $version_pkg.gitVersion=$k8s -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$minor"
k8s_ldflags+=" -X $version_pkg.gitTreeState=clean -X $version_pkg.buildDate=1970-01-01T00:00:00Z"
k8s_ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s"
k8s_ldflags+=" -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

build k8s "$k8s" kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy -- \
  -ldflags "$k8s_ldflags" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy

etcd=$(module_version "$here/gobuild/etcd" go.etcd.io/etcd/server/v3)
# etcd's server module carries replace lines of its own, so it is built through a wrapper
# main package (hack/gobuild/etcd/main.go, module sandboxmesh.local/etcd: the binary takes
# its name from it) rather than `go install module@version`.
build etcd "$etcd" etcd -- -ldflags "-s -w" .

kwok=$(module_version "$here/gobuild/kwok" sigs.k8s.io/kwok)
build kwok "$kwok" kwok -- -ldflags "-s -w" sigs.k8s.io/kwok/cmd/kwok

helm=$(module_version "$here/gobuild/helm" helm.sh/helm/v3)
# Helm renders and checks the chart in tests (deploy/helm/sandboxmesh). As Helm's own Makefile
# does, tell it the Kubernetes version its client-go speaks, or `helm template` assumes v1.20.
client_go=$(cd "$here/gobuild/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)
helm_k8s_minor=$(echo "$client_go" | cut -d. -f2)
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done
build helm "$helm" helm -- -ldflags "$helm_ldflags" helm.sh/helm/v3/cmd/helm

coredns=$(module_version "$here/gobuild/coredns" github.com/coredns/coredns)
# The real node's cluster DNS (svc.ns.svc.cluster.local in Pods), run as a host process; built
# through a wrapper main package with only the plugins it uses (hack/gobuild/coredns/main.go).
build coredns "$coredns" coredns -- -ldflags "-s -w" .

critools=$(module_version "$here/gobuild/critools" sigs.k8s.io/cri-tools)
# crictl: `dev cluster down` stops the real node's Pods through the CRI before containerd stops.
build critools "$critools" crictl -- -ldflags "-s -w" sigs.k8s.io/cri-tools/cmd/crictl

# The Pod sandbox ("pause") program of the real node's sandbox image. Its version is
# PAUSE_VERSION in src/sandboxmesh/dev/cluster/binaries.py: bump both when main.go changes.
pause=v1
build pause "$pause" pause -- -ldflags "-s -w" .
