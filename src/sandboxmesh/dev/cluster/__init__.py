"""A real local Kubernetes for tests, benchmarks and the demo.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK run as local processes,
built from their Go modules by `make k8s-bin`. Use `LocalCluster` as a context manager, the
`kube_target` pytest fixture (sandboxmesh.dev.pytest_plugin), or
`sandboxmesh dev cluster up|down`.
"""

from sandboxmesh.dev.cluster.binaries import Binaries, BinariesMissing
from sandboxmesh.dev.cluster.cluster import ClusterConfig, ClusterStartTimeout, LocalCluster
from sandboxmesh.dev.cluster.detached import ClusterState, stop_detached
from sandboxmesh.dev.processes import ProcessFailed

__all__ = [
    "Binaries",
    "BinariesMissing",
    "ClusterConfig",
    "ClusterStartTimeout",
    "ClusterState",
    "LocalCluster",
    "ProcessFailed",
    "stop_detached",
]
