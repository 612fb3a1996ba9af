"""The operator's forks on the real node: a fork's Pod is a containerd container, and a fork
whose image cannot be pulled, or that crashes, says so in the Sandbox's status."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod
from lightkube.types import PatchType
from tests.support.eventually import eventually
from tests.support.kube import SandboxResource, apply_baseline, sandbox_gone
from tests.support.system import start_operator

from sandboxmesh.dev.cluster import Binaries, LocalCluster
from sandboxmesh.dev.cluster.images import catalog
from sandboxmesh.dev.cluster.node.configs import NODE_NAME, NodeLayout
from sandboxmesh.dev.demo import in_cluster
from sandboxmesh.dev.pytest_plugin import KubeTarget
from sandboxmesh.spec.crd import LABEL_SANDBOX

pytestmark = pytest.mark.cluster

LEASES = "sandboxmesh-system"


@pytest.fixture
def shop(real_node_target: KubeTarget, tmp_path: Path) -> Iterator[tuple[Client, str]]:
    """A baseline `checkout` of the demo app's image on the real node, and an operator."""
    assert real_node_target.local is not None
    in_cluster.load_images(real_node_target.local, (catalog.IMAGES[2],))
    client = real_node_target.client()
    namespace = f"forks-{uuid.uuid4().hex[:6]}"
    for name in (namespace, LEASES):
        with contextlib.suppress(ApiError):
            client.create(Namespace(metadata=ObjectMeta(name=name)))
    apply_baseline(client, namespace, "checkout", image=catalog.DEMO_APP_IMAGE)
    operator = start_operator(real_node_target.kubeconfig, tmp_path)
    names: list[str] = []
    try:
        yield client, namespace
    finally:
        for sandbox in client.list(SandboxResource):
            if (
                sandbox.metadata
                and sandbox.metadata.name
                and sandbox.metadata.name.startswith(namespace)
            ):
                names.append(sandbox.metadata.name)
                client.delete(SandboxResource, sandbox.metadata.name)
        for name in names:
            eventually(
                lambda name=name: sandbox_gone(client, name), timeout=60, what=f"{name} deleted"
            )
        operator.stop()
        client.delete(Namespace, namespace)
        client.close()


def _sandbox(client: Client, namespace: str, suffix: str, customizations: dict[str, Any]) -> str:
    name = f"{namespace}-{suffix}"
    client.create(
        SandboxResource(
            metadata=ObjectMeta(name=name),
            spec={"cluster": "local", "routingKey": uuid.uuid4().hex[:16], "forks": [
                {"forkOf": {"namespace": namespace, "name": "checkout"},
                 "customizations": customizations}]},
        )
    )  # fmt: skip
    return name


def _status(client: Client, name: str) -> dict[str, Any]:
    status: dict[str, Any] = client.get(SandboxResource, name).to_dict().get("status") or {}
    return status


def test_a_fork_runs_as_a_container_and_broken_forks_say_why(shop: tuple[Client, str]) -> None:
    client, namespace = shop
    ok = _sandbox(client, namespace, "ok", {"env": [{"name": "DEMO_MESSAGE", "value": "hi"}]})
    # The image's container is left out: the Pod has one, the operator takes it.
    pull = _sandbox(
        client, namespace, "pull", {"images": [{"image": "registry.example.com/nope:1"}]}
    )
    crash = _sandbox(client, namespace, "crash", {"env": [{"name": "PORT", "value": "not-a-port"}]})

    eventually(lambda: _status(client, ok).get("phase") == "Ready", timeout=90, what="ok Ready")
    (pod,) = client.list(Pod, namespace=namespace, labels={LABEL_SANDBOX: ok})
    assert pod.spec is not None
    assert pod.spec.nodeName == NODE_NAME
    assert pod.status is not None
    assert pod.status.containerStatuses
    assert (pod.status.containerStatuses[0].containerID or "").startswith("containerd://")

    pulled = eventually(
        lambda: (s := _status(client, pull)).get("reason") == "ImagePullFailed" and s,
        timeout=60, what="the pull failure in the status",
    )  # fmt: skip
    assert pulled["phase"] == "Provisioning"
    assert "cannot pull image registry.example.com/nope:1" in pulled["message"]

    crashed = eventually(
        lambda: (s := _status(client, crash)).get("reason") == "ForkCrashing" and s,
        timeout=90, what="the crash in the status",
    )  # fmt: skip
    assert "container app exited with 1" in crashed["message"]
    ready = next(c for c in crashed["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ForkCrashing")


def _cri(cluster: LocalCluster, *args: str) -> list[dict[str, Any]]:
    """`crictl ... -o json` on the node: its Pod sandboxes (`pods`) or containers (`ps`)."""
    layout = NodeLayout(cluster.workdir / "node")
    shown = subprocess.run(
        [str(Binaries.locate().crictl), "--config", str(layout.crictl_config), *args, "-o", "json"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    key = "items" if args[0] == "pods" else "containers"
    items: list[dict[str, Any]] = json.loads(shown.stdout)[key]
    return items


def _fork_pods(client: Client, namespace: str, name: str) -> list[Pod]:
    return list(client.list(Pod, namespace=namespace, labels={LABEL_SANDBOX: name}))


def _settled(client: Client, namespace: str, name: str, value: str) -> bool:
    """Ready at its latest generation, with exactly one fork Pod, running `value`."""
    sandbox = client.get(SandboxResource, name).to_dict()
    status = sandbox.get("status") or {}
    if status.get("phase") != "Ready":
        return False
    if status.get("observedGeneration") != sandbox["metadata"]["generation"]:
        return False
    pods = _fork_pods(client, namespace, name)
    if len(pods) != 1 or pods[0].metadata is None or pods[0].metadata.deletionTimestamp:
        return False
    assert pods[0].spec is not None
    env = {e.name: e.value for e in pods[0].spec.containers[0].env or []}
    return env.get("DEMO_MESSAGE") == value


def test_the_kubelet_and_containerd_crashing_mid_life_leave_one_ready_fork_and_no_orphan(
    shop: tuple[Client, str], real_node_target: KubeTarget
) -> None:
    """Both crash (SIGKILL) while one sandbox is updated and another created; started again,
    each sandbox ends Ready at its latest generation with one fork Pod, and the CRI holds
    exactly the Pods the API server knows: nothing duplicated, nothing orphaned."""
    client, namespace = shop
    cluster = real_node_target.local
    assert cluster is not None
    assert cluster.node is not None
    node = cluster.node
    older = _sandbox(client, namespace, "older", {"env": [{"name": "DEMO_MESSAGE", "value": "v1"}]})
    eventually(lambda: _settled(client, namespace, older, "v1"), timeout=90, what="older Ready")

    crashed: list[str] = []
    try:
        for component in ("kubelet", "containerd"):
            node.crash(component)
            crashed.append(component)
        client.patch(SandboxResource, older, {"spec": {"forks": [
            {"forkOf": {"namespace": namespace, "name": "checkout"},
             "customizations": {"env": [{"name": "DEMO_MESSAGE", "value": "v2"}]}}]}},
            patch_type=PatchType.MERGE)  # fmt: skip
        newer = _sandbox(
            client, namespace, "newer", {"env": [{"name": "DEMO_MESSAGE", "value": "n"}]}
        )
        # The control plane goes on without the node: the rollout's new Pod is made and bound
        # to the node, where nothing can start it yet.
        eventually(lambda: len(_fork_pods(client, namespace, older)) == 2, timeout=60,
                   what="the update's new Pod, made while the node is down")  # fmt: skip
        eventually(lambda: _fork_pods(client, namespace, newer), timeout=60,
                   what="the new sandbox's Pod, made while the node is down")  # fmt: skip
        assert _status(client, newer).get("phase") != "Ready"
    finally:
        for component in ("containerd", "kubelet"):
            if component in crashed:
                node.start_again(component)

    eventually(lambda: _settled(client, namespace, older, "v2"), timeout=180,
               what="older Ready at its update, with one Pod")  # fmt: skip
    eventually(lambda: _settled(client, namespace, newer, "n"), timeout=180,
               what="newer Ready, with one Pod")  # fmt: skip

    def cri_matches_api() -> bool:
        known = {
            pod.metadata.uid
            for pod in client.list(Pod, namespace="*")
            if pod.metadata is not None and pod.spec is not None
            and pod.spec.nodeName == NODE_NAME
        }  # fmt: skip
        ready = [p for p in _cri(cluster, "pods") if p["state"] == "SANDBOX_READY"]
        running = [c for c in _cri(cluster, "ps") if c["state"] == "CONTAINER_RUNNING"]
        uids = [p["metadata"]["uid"] for p in ready]
        sandboxes = {p["id"] for p in ready}
        return (
            len(uids) == len(set(uids))  # one sandbox per Pod
            and set(uids) == known  # none the API server does not know, none missing
            and all(c["podSandboxId"] in sandboxes for c in running)
        )

    eventually(cri_matches_api, timeout=60, what="the CRI's Pods to be exactly the API's")
    for name in (older, newer):
        forks = client.list(Deployment, namespace=namespace, labels={LABEL_SANDBOX: name})
        assert len(list(forks)) == 1, f"{name}: one fork Deployment"
