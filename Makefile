# SandboxMesh: `make demo` runs the whole system on this machine, `make test` runs every test.
# Everything built (uv, the virtualenv's wheels, Go binaries) is cached under
# ~/.cache/sandboxmesh/, keyed by version; each step skips what is already there.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CACHE ?= $(HOME)/.cache/sandboxmesh
UV_VERSION := 0.13.8
UV := $(CACHE)/tools/uv-$(UV_VERSION)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_CACHE_DIR ?= $(CACHE)/uv
export SANDBOXMESH_CACHE := $(CACHE)
# Bytecode is what keeps a Python process's start-up short: the tests start hundreds of them
# (servers, agents, operators, CLI calls), and recompiling every import from source tripled
# each start (1.2 s -> 3.7 s for `sandboxmesh --help`). Some machines set this variable.
unexport PYTHONDONTWRITEBYTECODE
PYTEST_ARGS ?=

.PHONY: help demo test check lint typecheck imports k8s-bin crds venv clean chromium node-deps images

help:
	@echo "make demo     the whole system on this machine (see docs/demo.md), until Ctrl-C"
	@echo "make test     install what the tests need, then lint, type-check and run every test"
	@echo "make k8s-bin  build etcd, Kubernetes, KWOK, Helm, CoreDNS, crictl from their Go modules (cached)"
	@echo "make images   build the project's images with buildah over an mmdebstrap base (cached)"
	@echo "make crds     regenerate deploy/crds from the models in sandboxmesh.spec"

$(UV):
	python3 -m venv $(CACHE)/tools/uv-$(UV_VERSION)
	$(CACHE)/tools/uv-$(UV_VERSION)/bin/pip install --quiet uv==$(UV_VERSION)

# The stamp follows the lock file: the venv is re-synced only when the lock changes.
# --compile-bytecode: the installed packages get their .pyc once, here, not in every process.
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --all-groups --compile-bytecode
	touch $@

venv: $(VENV)/.synced

k8s-bin:
	hack/build-bins.sh

crds: venv
	$(BIN)/python -m sandboxmesh.spec.crd > deploy/crds/sandboxes.sandboxmesh.io.yaml
	$(BIN)/python -m sandboxmesh.spec.crd routegroups > deploy/crds/routegroups.sandboxmesh.io.yaml
	cp deploy/crds/sandboxes.sandboxmesh.io.yaml deploy/crds/routegroups.sandboxmesh.io.yaml \
		deploy/helm/sandboxmesh/crds/

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

imports: venv
	$(BIN)/lint-imports

check: lint typecheck imports

# The portal's browser tests drive Debian's Chromium (Playwright never downloads a browser here).
chromium:
	@command -v chromium >/dev/null || { \
		echo "installing Debian's chromium for the browser tests (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The real node of the local cluster runs Debian's containerd, runc and CNI plugins; the images
# are built by buildah over a base that mmdebstrap makes. Installed only where missing, as root.
NODE_PACKAGES := containerd runc containernetworking-plugins iptables iproute2 conntrack buildah mmdebstrap
node-deps:
	@missing=$$(for p in $(NODE_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "the real node needs Debian's $$missing (install them as root)"; exit 1; fi; \
		echo "installing $$missing for the real node and the images (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

images: venv k8s-bin node-deps
	UV=$(UV) $(BIN)/sandboxmesh dev images build --no-load

# hack/postgres.sh starts a throwaway PostgreSQL for the control-plane suite and stops it after.
test: venv k8s-bin chromium node-deps images check
	hack/postgres.sh run -- $(BIN)/pytest $(PYTEST_ARGS)

# The demo runs on the real node (Debian's containerd & co), from the project's images.
demo: venv k8s-bin node-deps images
	$(BIN)/sandboxmesh demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
