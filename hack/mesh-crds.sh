#!/usr/bin/env bash
# Prints the paths of the real Istio and Gateway API CRD manifests, fetched from their Go
# modules through the module proxy into the Go module cache (outside the checkout; a module
# already there is not fetched again). The versions are pinned here and nowhere else.
#   hack/mesh-crds.sh    ->  one YAML path per line
set -euo pipefail

GATEWAY_API_VERSION=v1.6.3   # v1.7 needs Go >= 1.27
ISTIO_API_VERSION=v1.32.0

module_dir() { # module_dir MODULE@VERSION -> the module's directory in the module cache
  local json dir
  json=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "$1")
  dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  if [ -z "$dir" ]; then
    printf 'mesh-crds: cannot download %s:\n%s\n' "$1" "$json" >&2
    exit 1
  fi
  printf '%s\n' "$dir"
}

gateway=$(module_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")
istio=$(module_dir "istio.io/api@$ISTIO_API_VERSION")
echo "$gateway/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"
echo "$istio/kubernetes/customresourcedefinitions.gen.yaml"
