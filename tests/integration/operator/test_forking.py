"""The operator forks baselines into sandboxes on the real local cluster."""

from __future__ import annotations

import subprocess
from typing import Any

import httpx
import pytest
from lightkube import Client
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.core_v1 import Pod, Service
from lightkube.resources.discovery_v1 import EndpointSlice
from lightkube.types import PatchType
from tests.integration.operator.conftest import SandboxFactory
from tests.support.eventually import eventually
from tests.support.kube import SandboxResource, apply_baseline
from tests.support.system import Process

from sandboxmesh.dev.cluster import Binaries
from sandboxmesh.dev.pytest_plugin import KubeTarget

pytestmark = pytest.mark.cluster


def _fork(baseline: dict[str, str], **customizations: Any) -> dict[str, Any]:
    return {"forkOf": baseline, "customizations": customizations}


def _status(body: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = body.get("status") or {}
    return status


def _env(container: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_create_reaches_ready_with_fork_objects(
    sandboxes: SandboxFactory, kube_client: Client, baseline: dict[str, str], namespace: str
) -> None:
    name = sandboxes.create(
        [
            _fork(
                baseline,
                images=[{"container": "app", "image": "example/app:pr-1"}],
                env=[
                    {"container": "app", "name": "FEATURE_X", "value": "on"},
                    {"container": "app", "name": "GREETING", "operation": "delete"},
                ],
            )
        ],
        routing_key="key0123456789ab",
    )
    body = sandboxes.wait_phase(name, "Ready")
    status = _status(body)
    assert status["ready"] is True
    assert status["routingKey"] == "key0123456789ab"
    assert status["observedGeneration"] == body["metadata"]["generation"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "BaselineResolved": "True", "ForksReady": "True", "Ready": "True",
    }  # fmt: skip

    (fork_status,) = status["forks"]
    assert fork_status["ready"] is True
    assert fork_status["readyReplicas"] == 1
    baseline_now = kube_client.get(Deployment, "checkout", namespace=namespace)
    assert baseline_now.metadata is not None
    snapshot = fork_status["baseline"]
    assert snapshot["resourceVersion"] == baseline_now.metadata.resourceVersion
    assert snapshot["generation"] == baseline_now.metadata.generation
    assert len(snapshot["podTemplateHash"]) == 16
    fork_name = f"checkout-sbx-{name}"
    assert {(o["kind"], o["name"], o["baseline"]) for o in fork_status["objects"]} == {
        ("Deployment", fork_name, "checkout"),
        ("Service", fork_name, "checkout"),
    }

    fork = kube_client.get(Deployment, fork_name, namespace=namespace).to_dict()
    assert fork["spec"]["replicas"] == 1
    assert fork["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sandboxmesh"
    assert fork["metadata"]["labels"]["sandboxmesh.io/sandbox"] == name
    (owner,) = fork["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Sandbox", name, body["metadata"]["uid"],
    )  # fmt: skip
    (container,) = fork["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "example/app:pr-1"
    env = _env(container)
    assert env["FEATURE_X"] == "on"
    assert "GREETING" not in env
    assert env["SANDBOXMESH_SANDBOX_NAME"] == name
    assert env["SANDBOXMESH_ROUTING_KEY"] == "key0123456789ab"
    pod_labels = fork["spec"]["template"]["metadata"]["labels"]
    assert "app" not in pod_labels  # selected on by the baseline: dropped
    assert pod_labels["tier"] == "backend"  # not selected on: kept

    service = kube_client.get(Service, fork_name, namespace=namespace).to_dict()
    assert service["spec"]["selector"] == fork["spec"]["selector"]["matchLabels"]
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("http", 80, "http")
    assert service["metadata"]["ownerReferences"][0]["uid"] == body["metadata"]["uid"]


def test_a_baseline_service_keeps_selecting_only_baseline_pods(
    sandboxes: SandboxFactory, kube_client: Client, baseline: dict[str, str], namespace: str
) -> None:
    name = sandboxes.create([_fork(baseline)])
    sandboxes.wait_phase(name, "Ready")
    pods = {
        p.metadata.name: p
        for p in kube_client.list(Pod, namespace=namespace)
        if p.metadata is not None and p.metadata.name
    }
    fork_pods = {
        n for n, p in pods.items() if (p.metadata.labels or {}).get("sandboxmesh.io/sandbox")
    }
    baseline_pods = set(pods) - fork_pods
    assert len(fork_pods) == 1
    assert len(baseline_pods) == 2

    def endpoints(service: str) -> set[str] | None:
        slices = kube_client.list(
            EndpointSlice, namespace=namespace, labels={"kubernetes.io/service-name": service}
        )
        targets = {
            e.targetRef.name
            for s in slices for e in (s.endpoints or []) if e.targetRef and e.targetRef.name
        }  # fmt: skip
        return targets or None

    # The EndpointSlice controller may list one Pod before the other: wait for the whole set.
    eventually(lambda: endpoints("checkout") == baseline_pods, timeout=30,
               what="baseline endpoints")  # fmt: skip
    eventually(lambda: endpoints(f"checkout-sbx-{name}") == fork_pods, timeout=30,
               what="fork endpoints")  # fmt: skip


def test_a_changed_image_rolls_the_fork(
    sandboxes: SandboxFactory, kube_client: Client, baseline: dict[str, str], namespace: str
) -> None:
    name = sandboxes.create([_fork(baseline, images=[{"container": "app", "image": "v:1"}])])
    sandboxes.wait_phase(name, "Ready")
    fork_name = f"checkout-sbx-{name}"
    before = kube_client.get(Deployment, fork_name, namespace=namespace).to_dict()

    body = sandboxes.get(name)
    body["spec"]["forks"][0]["customizations"]["images"][0]["image"] = "v:2"
    kube_client.patch(SandboxResource, name, {"spec": body["spec"]}, patch_type=PatchType.MERGE)

    after = sandboxes.wait_for(
        name,
        lambda b: _status(b).get("observedGeneration") == 2 and _status(b).get("ready") is True,
        "observedGeneration 2 and Ready",
    )
    fork = kube_client.get(Deployment, fork_name, namespace=namespace).to_dict()
    assert fork["spec"]["template"]["spec"]["containers"][0]["image"] == "v:2"
    assert fork["metadata"]["generation"] > before["metadata"]["generation"]
    assert fork["status"]["updatedReplicas"] == 1
    assert _status(after)["forks"][0]["readyReplicas"] == 1

    def fork_pod_images() -> list[str] | None:
        images = [
            p.spec.containers[0].image or ""
            for p in kube_client.list(
                Pod, namespace=namespace, labels={"sandboxmesh.io/sandbox": name}
            )
            if p.spec is not None and p.metadata is not None and not p.metadata.deletionTimestamp
        ]
        return images if images == ["v:2"] else None

    # The old ReplicaSet is scaled down: exactly one fork Pod left, on the new image.
    assert eventually(fork_pod_images, timeout=30, what="one fork Pod, on v:2") == ["v:2"]


def test_a_new_baseline_spec_reaches_its_fork(
    sandboxes: SandboxFactory, kube_client: Client, baseline: dict[str, str], namespace: str
) -> None:
    name = sandboxes.create(
        [_fork(baseline, env=[{"container": "app", "name": "X", "value": "1"}])]
    )
    sandboxes.wait_phase(name, "Ready")
    fork_name = f"checkout-sbx-{name}"

    # A new image in the baseline (no customization of it in the fork): the fork follows,
    # and its snapshot names the baseline's new generation.
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "new:2"}]}}}}
    kube_client.patch(Deployment, "checkout", patch, namespace=namespace)
    generation = kube_client.get(Deployment, "checkout", namespace=namespace).to_dict()["metadata"][
        "generation"
    ]
    body = sandboxes.wait_for(
        name,
        lambda b: _status(b)["forks"][0]["baseline"]["generation"] == generation,
        f"the fork's snapshot at the baseline's generation {generation}",
    )
    fork = kube_client.get(Deployment, fork_name, namespace=namespace).to_dict()
    container = fork["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "new:2"
    assert _env(container)["X"] == "1"  # the fork's own change kept
    assert _status(body)["observedGeneration"] == 1  # the sandbox's spec did not change


def test_delete_leaves_nothing_behind(
    sandboxes: SandboxFactory, kube_client: Client, baseline: dict[str, str], namespace: str
) -> None:
    name = sandboxes.create([_fork(baseline)])
    sandboxes.wait_phase(name, "Ready")
    sandboxes.delete_all(wait=True)
    for kind in (Deployment, Service, ReplicaSet, Pod):
        leftovers = list(
            kube_client.list(kind, namespace="*", labels={"sandboxmesh.io/sandbox": name})
        )
        assert leftovers == [], f"{kind.__name__} left behind"
    # The baseline is untouched.
    status = kube_client.get(Deployment, "checkout", namespace=namespace).status
    assert status is not None
    assert status.readyReplicas == 2


def test_a_fork_removed_from_the_spec_has_its_objects_deleted(
    sandboxes: SandboxFactory, kube_client: Client, baseline: dict[str, str], namespace: str
) -> None:
    apply_baseline(kube_client, namespace, "payments")
    second = {"kind": "Deployment", "namespace": namespace, "name": "payments"}
    name = sandboxes.create([_fork(baseline), _fork(second)])
    body = sandboxes.wait_phase(name, "Ready")
    assert len(_status(body)["forks"]) == 2
    kube_client.patch(
        SandboxResource, name, {"spec": {"forks": [_fork(baseline)]}}, patch_type=PatchType.MERGE
    )
    sandboxes.wait_for(
        name,
        lambda b: _status(b).get("observedGeneration") == 2 and _status(b).get("ready") is True,
        "observedGeneration 2",
    )

    def removed() -> bool:
        names = {d.metadata.name for d in kube_client.list(
            Deployment, namespace=namespace, labels={"sandboxmesh.io/sandbox": name}
        ) if d.metadata is not None}  # fmt: skip
        return names == {f"checkout-sbx-{name}"}

    assert eventually(removed, timeout=30, what="the payments fork deleted")
    services = {s.metadata.name for s in kube_client.list(
        Service, namespace=namespace, labels={"sandboxmesh.io/sandbox": name}
    ) if s.metadata is not None}  # fmt: skip
    assert services == {f"checkout-sbx-{name}"}


def test_baseline_not_found_recovers_when_it_appears(
    sandboxes: SandboxFactory,
    kube_client: Client,
    namespace: str,
    kube_target: KubeTarget,
) -> None:
    missing = {"kind": "Deployment", "namespace": namespace, "name": "late"}
    name = sandboxes.create([_fork(missing)])
    body = sandboxes.wait_for(
        name, lambda b: _status(b).get("reason") == "BaselineNotFound", "BaselineNotFound"
    )
    status = _status(body)
    assert status["phase"] == "Pending"
    assert f"Deployment/{namespace}/late" in status["message"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["BaselineResolved"]["reason"] == "BaselineNotFound"

    # `kubectl describe` tells why, naming the object.
    kubectl = str(Binaries.locate().kubectl) if kube_target.local else "kubectl"
    described = subprocess.run(
        [kubectl, f"--kubeconfig={kube_target.kubeconfig}", "describe", "sandbox", name],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "BaselineNotFound" in described
    assert f"Deployment/{namespace}/late" in described

    apply_baseline(kube_client, namespace, "late")
    sandboxes.wait_phase(name, "Ready")


@pytest.mark.parametrize(
    ("fork", "reason", "mentions"),
    [
        ({"forkOf": {"kind": "StatefulSet", "name": "db"}}, "UnsupportedKind", "StatefulSet"),
        (
            {"customizations": {"images": [{"container": "sidecar", "image": "x:1"}]}},
            "ContainerNotFound",
            "'sidecar'",
        ),
    ],
)
def test_errors_get_a_clear_reason_and_the_operator_carries_on(
    sandboxes: SandboxFactory,
    baseline: dict[str, str],
    operator: Process,
    fork: dict[str, Any],
    reason: str,
    mentions: str,
) -> None:
    spec = {"forkOf": {**baseline, **fork.get("forkOf", {})}, **{
        k: v for k, v in fork.items() if k != "forkOf"
    }}  # fmt: skip
    bad = sandboxes.create([spec])
    body = sandboxes.wait_phase(bad, "Failed")
    assert _status(body)["reason"] == reason
    assert mentions in _status(body)["message"]
    good = sandboxes.create([_fork(baseline)])
    sandboxes.wait_phase(good, "Ready")
    assert operator.alive()
    metrics = httpx.get(operator.url("/metrics")).text
    assert f'sandboxmesh_operator_errors_total{{reason="{reason}"}}' in metrics
    assert 'sandboxmesh_operator_sandboxes{phase="Failed"} 1.0' in metrics
