"""A Kubernetes node whose Pods are local processes: test and demo infrastructure only.

KWOK's Pods run nothing; for traffic to flow in a local run, some Pods must be real
processes. `LocalNode` registers a Node of its own in the cluster (tainted, so only Pods that
ask for it land there) and plays its kubelet: each container of a Pod bound to it runs as a
local program (`programs`: image -> program), the Pod is reported Ready once its processes
pass their readiness checks, and on deletion its processes are stopped before the Pod goes.
A `ServiceNetwork` hears which process serves each Service port (`endpoints`), where the
demo plugs in its Envoy routing.

Pure core: `programs`, `podspec`, `podstatus`, `endpoints`. Thin shell: `processes`, `node`,
`kubelet`, `local_node`.
"""

from sandboxmesh.localpods.endpoints import DirectNetwork, ServiceNetwork
from sandboxmesh.localpods.kubelet import LocalNodeSettings
from sandboxmesh.localpods.local_node import LocalNode
from sandboxmesh.localpods.processes import ProcessSettings
from sandboxmesh.localpods.programs import Program, Programs

__all__ = [
    "DirectNetwork",
    "LocalNode",
    "LocalNodeSettings",
    "ProcessSettings",
    "Program",
    "Programs",
    "ServiceNetwork",
]
