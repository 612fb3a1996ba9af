"""A real local Kubernetes for tests, benchmarks and the demo.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK run as local processes,
built from their Go modules by `make k8s-bin`. Use `LocalCluster` as a context manager, the
`kube_target` pytest fixture (sandboxmesh.dev.pytest_plugin), or
`sandboxmesh dev cluster up|down`.
"""

from sandboxmesh.dev.cluster.binaries import Binaries, BinariesMissing
from sandboxmesh.dev.cluster.cluster import ClusterConfig, ClusterStartTimeout, LocalCluster
from sandboxmesh.dev.cluster.detached import ClusterState, stop_detached
from sandboxmesh.dev.cluster.images.buildah import ImageBuildFailed
from sandboxmesh.dev.cluster.node.host import HostUnfit, NodeAlreadyUp
from sandboxmesh.dev.processes import ProcessFailed

#: What starting a cluster may raise, each with a one-line reason for the user.
START_ERRORS = (
    BinariesMissing,
    ClusterStartTimeout,
    ProcessFailed,
    HostUnfit,
    NodeAlreadyUp,
    ImageBuildFailed,
)

__all__ = [
    "START_ERRORS",
    "Binaries",
    "BinariesMissing",
    "ClusterConfig",
    "ClusterStartTimeout",
    "ClusterState",
    "LocalCluster",
    "ProcessFailed",
    "stop_detached",
]
