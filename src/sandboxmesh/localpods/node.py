"""The local node's Node object and Lease, as a kubelet registers and renews them.

KWOK manages only the nodes annotated for it, so this Node is ours alone. It carries a
NoSchedule taint: only Pods that tolerate it (and select the node, see `placement`) land here,
so Pods of other workloads in a shared cluster never end up as local processes. The Lease in
`kube-node-lease` is renewed well within the node monitor's grace period, which keeps the node
Ready without posting its status again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient, codecs
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Node
from lightkube.types import PatchType

from sandboxmesh import kube
from sandboxmesh.localpods.processes import rfc3339

log = logging.getLogger(__name__)

Json = dict[str, Any]
TAINT_KEY = "sandboxmesh.io/local-processes"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
RENEW_SECONDS = 10.0


def placement(node: str) -> Json:
    """What a Pod template needs to run on node `node` (merge it into the Pod spec)."""
    return {
        "nodeSelector": {"kubernetes.io/hostname": node},
        "tolerations": [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
    }


def node_manifest(name: str) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "local-processes",
            },
        },
        "spec": {"taints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}]},
    }


def node_status(now: str) -> Json:
    resources = {"cpu": "8", "memory": "16Gi", "pods": "110"}
    return {
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "LocalProcessesReady",
                "message": "Pods on this node run as local processes",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
        ],
        "addresses": [{"type": "Hostname", "address": "localhost"}],
        "nodeInfo": {
            "kubeletVersion": "sandboxmesh-localpods",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def is_schedulable(node: Json) -> bool:
    """Ready, and tainted by nothing but our own taint (the API server taints a new node
    not-ready until its controller sees the Ready condition)."""
    conditions = node.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    taints = node.get("spec", {}).get("taints") or []
    return ready and all(t.get("key") == TAINT_KEY for t in taints)


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def register(client: AsyncClient, name: str) -> None:
    """Create the Node (or take over one of that name), report it Ready, create its Lease."""
    try:
        await client.create(codecs.from_dict(node_manifest(name)))
    except ApiError as error:
        if error.status.code != 409:
            raise
    await client.patch(
        Node.Status, name, {"status": node_status(rfc3339())}, patch_type=PatchType.MERGE
    )
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": _micro_time(),
        },
    }
    with contextlib.suppress(ApiError):
        await client.delete(Lease, name, namespace=LEASE_NAMESPACE)
    await client.create(codecs.from_dict(lease))


async def renew_forever(client: AsyncClient, name: str) -> None:
    """Renew the Lease every RENEW_SECONDS until cancelled; errors are retried."""
    while True:
        await asyncio.sleep(RENEW_SECONDS)
        try:
            await client.patch(
                Lease,
                name,
                {"spec": {"renewTime": _micro_time()}},
                namespace=LEASE_NAMESPACE,
                patch_type=PatchType.MERGE,
            )
        except kube.CLIENT_ERRORS as error:
            log.warning("local pods: renewing the lease of node %s failed: %s", name, error)


async def unregister(client: AsyncClient, name: str) -> None:
    """Delete the Node and its Lease (the Pod garbage collector removes Pods bound to it)."""
    for deleting in (
        client.delete(Node, name),
        client.delete(Lease, name, namespace=LEASE_NAMESPACE),
    ):
        try:
            await deleting
        except ApiError as error:
            if error.status.code != 404:
                log.warning("local pods: unregistering node %s: %s", name, error)


async def wait_schedulable(client: AsyncClient, name: str) -> None:
    """Return once the Node can take Pods (bound the wait with `asyncio.timeout`)."""
    # The API server's not-ready taint goes without an event of ours to wait for: poll.
    while True:
        if is_schedulable((await client.get(Node, name)).to_dict()):
            return
        await asyncio.sleep(0.1)
