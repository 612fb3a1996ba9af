"""Where the locally built cluster binaries live, keyed by version.

`make k8s-bin` (hack/build-bins.sh) builds them from the Go module proxy into the cache; the
versions here must match the wrapper modules under hack/gobuild/ (a unit test checks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"
COREDNS_VERSION = "v1.15.0"
CRI_TOOLS_VERSION = "v1.37.0"
PAUSE_VERSION = "v1"  # hack/gobuild/pause/main.go; bump with it (and in hack/build-bins.sh)

#: component directory under the cache -> (version, binaries it holds)
COMPONENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "k8s": (
        KUBERNETES_VERSION,
        (
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kubectl",
            "kubelet",
            "kube-proxy",
        ),
    ),
    "etcd": (ETCD_VERSION, ("etcd",)),
    "kwok": (KWOK_VERSION, ("kwok",)),
    "helm": (HELM_VERSION, ("helm",)),
    "coredns": (COREDNS_VERSION, ("coredns",)),
    "critools": (CRI_TOOLS_VERSION, ("crictl",)),
    "pause": (PAUSE_VERSION, ("pause",)),
}


class BinariesMissing(RuntimeError):
    """A cluster binary is not built; the message says how to build it."""


def cache_root() -> Path:
    return Path(os.environ.get("SANDBOXMESH_CACHE", "~/.cache/sandboxmesh")).expanduser()


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    etcd: Path
    kwok: Path
    helm: Path
    kubelet: Path
    kube_proxy: Path
    coredns: Path
    crictl: Path
    pause: Path

    @classmethod
    def locate(cls, root: Path | None = None) -> Binaries:
        root = root or cache_root()
        found: dict[str, Path] = {}
        missing: list[str] = []
        for component, (version, names) in COMPONENTS.items():
            for name in names:
                path = root / component / version / "bin" / name
                if not os.access(path, os.X_OK):
                    missing.append(f"{name} {version}")
                found[name.replace("-", "_")] = path
        if missing:
            raise BinariesMissing(
                f"not built: {', '.join(missing)} (under {root}); run `make k8s-bin`"
            )
        return cls(**found)
