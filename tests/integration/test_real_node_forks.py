"""The operator's forks on the real node: a fork's Pod is a containerd container, and a fork
whose image cannot be pulled, or that crashes, says so in the Sandbox's status."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Pod
from tests.support.eventually import eventually
from tests.support.kube import SandboxResource, apply_baseline, sandbox_gone
from tests.support.system import start_operator

from sandboxmesh.localcluster.images import catalog
from sandboxmesh.localcluster.node import archives
from sandboxmesh.localcluster.node.configs import NODE_NAME, NodeLayout
from sandboxmesh.localcluster.pytest_plugin import KubeTarget
from sandboxmesh.spec.crd import LABEL_SANDBOX

pytestmark = pytest.mark.cluster

LEASES = "sandboxmesh-system"


@pytest.fixture
def shop(real_node_target: KubeTarget, tmp_path: Path) -> Iterator[tuple[Client, str]]:
    """A baseline `checkout` of the demo app's image on the real node, and an operator."""
    assert real_node_target.local is not None
    socket = NodeLayout(real_node_target.local.workdir / "node").containerd_socket
    if catalog.DEMO_APP_IMAGE not in archives.list_images(socket):
        archives.load([catalog.builder().build(catalog.IMAGES[2])], socket)
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
