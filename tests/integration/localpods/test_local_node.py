"""A local node in the real cluster: its Pods are local processes, reported as a kubelet does.

Deployments scheduled to it start processes; a Pod is Ready only once its process answers;
changes of the Pod template roll processes, deletions stop them, crashes restart them, and
each Service is served by a Ready process of the Pods it selects.
"""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import ApiError, Client, codecs
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Node, Pod
from lightkube.types import PatchType
from tests.support.eventually import eventually, stays

from sandboxmesh.demo import manifests
from sandboxmesh.localcluster.pytest_plugin import KubeTarget
from sandboxmesh.localpods import DirectNetwork, LocalNode, LocalNodeSettings, Program, Programs

pytestmark = [pytest.mark.cluster]

GATED_IMAGE = "example.test/gated:1"
# Listens on PORT only once the file GATE exists: readiness must wait for it.
GATED = textwrap.dedent(
    """
    import os, pathlib, socket, time
    while not pathlib.Path(os.environ["GATE"]).exists():
        time.sleep(0.05)
    server = socket.create_server(("127.0.0.1", int(os.environ["PORT"])))
    while True:
        server.accept()[0].close()
    """
)
PROGRAMS = Programs(
    {**manifests.programs().by_image, GATED_IMAGE: Program((sys.executable, "-c", GATED))}
)


class NodeUnderTest:
    """The node under test, with its network and the test's namespace."""

    def __init__(self, node: LocalNode, network: DirectNetwork, namespace: str, client: Client):
        self.node, self.network, self.namespace, self.client = node, network, namespace, client

    def apply(self, obj: dict[str, Any]) -> None:
        self.client.apply(codecs.from_dict(obj), force=True)

    def deployment(
        self, name: str, image: str = manifests.DEMO_IMAGE, **env: str
    ) -> dict[str, Any]:
        demo = manifests.DemoService(name)
        document = manifests.deployment(self.namespace, demo, self.node.placement())
        container = document["spec"]["template"]["spec"]["containers"][0]
        container["image"] = image
        container["env"] += [{"name": k, "value": v} for k, v in env.items()]
        if image != manifests.DEMO_IMAGE:
            del container["readinessProbe"]  # TCP on the first port
        return document

    def pods(self, app: str) -> list[dict[str, Any]]:
        listed = self.client.list(Pod, namespace=self.namespace, labels={"app": app})
        return [p.to_dict() for p in listed]

    def answer(self, service: str) -> dict[str, Any]:
        host, port = self.network.served[(self.namespace, service, manifests.SERVICE_PORT)]
        body: dict[str, Any] = httpx.get(f"http://{host}:{port}/", timeout=5).json()
        return body


@pytest.fixture
def local(
    kube_target: KubeTarget, kube_client: Client, namespace: str, tmp_path: Path
) -> Iterator[NodeUnderTest]:
    network = DirectNetwork()
    settings = LocalNodeSettings(
        name=f"local-{uuid.uuid4().hex[:8]}", workdir=tmp_path / "pods", programs=PROGRAMS,
        kubeconfig=kube_target.kubeconfig, drain_seconds=0.1,
    )  # fmt: skip
    with LocalNode(settings, network) as node:
        yield NodeUnderTest(node, network, namespace, kube_client)
    assert not network.served, "stopping the node takes its processes out of every Service"
    with pytest.raises(ApiError):
        kube_client.get(Node, settings.name)


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def pid(pod: dict[str, Any]) -> int:
    (container,) = pod["status"]["containerStatuses"]
    return int(container["containerID"].removeprefix("local://"))


def alive(process: int) -> bool:
    try:
        os.kill(process, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"


def test_a_pod_runs_as_a_process_and_is_ready_only_once_it_answers(
    local: NodeUnderTest, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    local.apply(manifests.service(local.namespace, manifests.DemoService("gated")))
    local.apply(local.deployment("gated", GATED_IMAGE, GATE=str(gate)))
    (pod,) = eventually(
        lambda: [p for p in local.pods("gated") if p["status"].get("phase") == "Running"],
        timeout=30, what="the gated Pod running",
    )  # fmt: skip
    assert alive(pid(pod))
    stays(lambda: not any(ready(p) for p in local.pods("gated")), during=1.0, what="not Ready")
    assert (local.namespace, "gated", 80) not in local.network.served

    gate.touch()
    eventually(lambda: ready(local.pods("gated")[0]), timeout=15, what="Ready once it listens")
    address = local.network.served[(local.namespace, "gated", manifests.SERVICE_PORT)]
    assert address[0] == "127.0.0.1"
    # kube-controller-manager counts the Pod into its Deployment after it saw it Ready.
    eventually(lambda: ready_replicas(local, "gated") == 1, timeout=15,
               what="the Deployment counting it")  # fmt: skip


def ready_replicas(local: NodeUnderTest, name: str) -> int | None:
    status = local.client.get(Deployment, name, namespace=local.namespace).status
    return status.readyReplicas if status else None


def test_the_pod_template_reaches_the_process_and_a_change_rolls_it(local: NodeUnderTest) -> None:
    local.apply(manifests.service(local.namespace, manifests.DemoService("checkout")))
    local.apply(local.deployment("checkout", DEMO_MESSAGE="first"))
    eventually(lambda: local.answer("checkout")["hops"][0].get("message") == "first",
               timeout=30, what="the first version serving")  # fmt: skip
    (first,) = local.pods("checkout")
    hop = local.answer("checkout")
    assert hop["pod"] == first["metadata"]["name"]  # HOSTNAME is the Pod's name
    assert hop["version"] == "baseline"

    local.apply(local.deployment("checkout", DEMO_MESSAGE="second"))
    eventually(lambda: local.answer("checkout")["hops"][0].get("message") == "second",
               timeout=30, what="the rolled version serving")  # fmt: skip
    eventually(lambda: not alive(pid(first)), timeout=15, what="the old process stopped")
    eventually(lambda: len(local.pods("checkout")) == 1, timeout=15, what="the old Pod removed")
    # The node forgets the old Pod's worker only after the Pod left the API.
    current = f"{local.namespace}/{local.pods('checkout')[0]['metadata']['name']}"
    eventually(lambda: local.node.running_pods() == [current], timeout=15,
               what="only the new Pod running on the node")  # fmt: skip


def test_a_crashed_process_is_restarted_and_a_deleted_pod_stopped(local: NodeUnderTest) -> None:
    local.apply(manifests.service(local.namespace, manifests.DemoService("payments")))
    local.apply(local.deployment("payments"))
    (pod,) = eventually(lambda: [p for p in local.pods("payments") if ready(p)], timeout=30,
                        what="payments Ready")  # fmt: skip
    os.kill(pid(pod), 9)

    def restarted() -> dict[str, Any] | None:
        (current,) = local.pods("payments")
        (container,) = current["status"]["containerStatuses"]
        return current if container["restartCount"] == 1 and ready(current) else None

    again = eventually(restarted, timeout=30, what="the process restarted and Ready again")
    assert pid(again) != pid(pod)
    assert local.answer("payments")["service"] == "payments"

    local.client.delete(Deployment, "payments", namespace=local.namespace)
    eventually(lambda: not local.pods("payments"), timeout=30, what="the Pod gone")
    assert not alive(pid(again))
    assert (local.namespace, "payments", manifests.SERVICE_PORT) not in local.network.served


def test_a_pod_whose_image_has_no_program_waits_with_the_reason(local: NodeUnderTest) -> None:
    local.apply(local.deployment("nginx", "nginx:1.27"))

    def waiting() -> str | None:
        pods = local.pods("nginx")
        statuses = pods[0].get("status", {}).get("containerStatuses") if pods else None
        return statuses[0]["state"].get("waiting", {}).get("reason") if statuses else None

    assert eventually(waiting, timeout=30, what="a waiting reason") == "ErrImageNeverPull"
    assert local.pods("nginx")[0]["status"]["phase"] == "Pending"
    local.client.patch(
        Deployment, "nginx", {"spec": {"replicas": 0}}, namespace=local.namespace,
        patch_type=PatchType.MERGE,
    )  # fmt: skip
    eventually(lambda: not local.pods("nginx"), timeout=30, what="the Pod removed on scale-down")
