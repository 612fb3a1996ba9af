#!/usr/bin/env bash
# Regenerates go.mod and go.sum for a Kubernetes release: k8s.io/kubernetes requires its staging
# modules at v0.0.0 and replaces them with ./staging paths, so a consumer must replace every one
# of them with the published v0.<minor>.<patch>. The list comes from the release's own go.mod.
# Usage: hack/gobuild/k8s/regenerate.sh v1.36.3
set -euo pipefail
version=${1:?usage: regenerate.sh vMAJOR.MINOR.PATCH}
staging=v0.${version#v1.}
cd "$(dirname "$0")"
release_mod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
{
  printf 'module sandboxmesh.local/k8sbuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$version"
  awk -v v="$staging" '/^\tk8s\.io\/[^ ]+ v0\.0\.0$/ {print "\t" $1 " => " $1 " " v}' "$release_mod"
  printf ')\n'
} > go.mod
rm -f go.sum
go mod tidy
