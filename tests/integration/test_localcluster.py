"""The local cluster is a real Kubernetes: controllers, scheduler, KWOK, RBAC, the CRD."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from lightkube import ApiError, Client
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta, OwnerReference
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Pod
from tests.support.eventually import eventually

from sandboxmesh.dev.cluster import Binaries
from sandboxmesh.dev.cluster.binaries import KUBERNETES_VERSION
from sandboxmesh.dev.pytest_plugin import KubeTarget
from sandboxmesh.kube import Sandbox as SandboxResource

pytestmark = pytest.mark.cluster


def _deployment(name: str, namespace: str, replicas: int) -> Deployment:
    labels = {"app": name}
    return Deployment(
        metadata=ObjectMeta(name=name, namespace=namespace),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector(matchLabels=labels),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels=labels),
                spec=PodSpec(containers=[Container(name="app", image="example/app:1")]),
            ),
        ),
    )


def test_deployment_reaches_three_ready_replicas(kube_client: Client, namespace: str) -> None:
    kube_client.create(_deployment("web", namespace, 3))

    def ready() -> int | None:
        status = kube_client.get(Deployment, "web", namespace=namespace).status
        return status.readyReplicas if status and status.readyReplicas == 3 else None

    assert eventually(ready, timeout=30, what="3 ready replicas") == 3
    pods = list(kube_client.list(Pod, namespace=namespace, labels={"app": "web"}))
    assert len(pods) == 3
    # Scheduled onto KWOK's simulated nodes, Running, with an IP from KWOK's pod CIDR.
    for pod in pods:
        assert pod.spec is not None
        assert pod.spec.nodeName is not None
        assert pod.spec.nodeName.startswith("kwok-node-")
        assert pod.status is not None
        assert pod.status.phase == "Running"
        assert pod.status.podIP is not None


def test_deleting_an_owner_garbage_collects_its_dependents(
    kube_client: Client, namespace: str
) -> None:
    owner = kube_client.create(ConfigMap(metadata=ObjectMeta(name="owner", namespace=namespace)))
    assert owner.metadata is not None
    assert owner.metadata.uid is not None
    reference = OwnerReference(
        apiVersion="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    for index in range(3):
        kube_client.create(
            ConfigMap(
                metadata=ObjectMeta(
                    name=f"dependent-{index}", namespace=namespace, ownerReferences=[reference]
                )
            )
        )
    kube_client.delete(ConfigMap, "owner", namespace=namespace)

    def dependents_gone() -> bool:
        names = {
            cm.metadata.name
            for cm in kube_client.list(ConfigMap, namespace=namespace)
            if cm.metadata is not None
        }
        return not any(name and name.startswith("dependent-") for name in names)

    assert eventually(dependents_gone, timeout=30, what="dependents collected")


def test_crd_schema_rejects_an_invalid_sandbox_with_the_servers_own_error(
    kube_client: Client,
) -> None:
    invalid = SandboxResource(
        metadata=ObjectMeta(name="invalid-sandbox"),
        spec={
            "cluster": "Not A Label",
            "routingKey": "UPPER",
            "forks": [],
        },
    )
    with pytest.raises(ApiError) as caught:
        kube_client.create(invalid)
    assert caught.value.status.code == 422
    message = caught.value.status.message or ""
    assert "spec.cluster" in message
    assert "spec.routingKey" in message
    assert "spec.forks" in message


def test_a_valid_sandbox_is_accepted_and_shows_printer_columns(
    kube_target: KubeTarget, kube_client: Client
) -> None:
    valid = SandboxResource(
        metadata=ObjectMeta(name="printer-columns"),
        spec={
            "cluster": "staging",
            "routingKey": "abcdef0123456789",
            "forks": [{"forkOf": {"kind": "Deployment", "namespace": "shop", "name": "checkout"}}],
        },
    )
    kube_client.create(valid)
    try:
        kubectl = Binaries.locate().kubectl if kube_target.local else "kubectl"
        output = subprocess.run(
            [str(kubectl), f"--kubeconfig={kube_target.kubeconfig}", "get", "sandboxes"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        lines = output.splitlines()
        assert lines[0].split() == ["NAME", "PHASE", "READY", "ROUTING-KEY", "AGE"]
        # Other tests' sandboxes may share the cluster: find ours by name.
        (row,) = [line.split() for line in lines[1:] if line.split()[0] == "printer-columns"]
        assert "abcdef0123456789" in row
    finally:
        kube_client.delete(SandboxResource, "printer-columns")


def test_server_side_apply_conflict_between_field_managers_is_reported(
    kube_client: Client, namespace: str
) -> None:
    first = ConfigMap(
        metadata=ObjectMeta(name="contested", namespace=namespace), data={"color": "blue"}
    )
    kube_client.apply(first, field_manager="team-a")
    second = ConfigMap(
        metadata=ObjectMeta(name="contested", namespace=namespace), data={"color": "red"}
    )
    with pytest.raises(ApiError) as caught:
        kube_client.apply(second, field_manager="team-b")
    assert caught.value.status.code == 409
    assert caught.value.status.reason == "Conflict"
    assert 'conflict with "team-a"' in (caught.value.status.message or "")
    # Forcing takes the field over; the value and its new owner are visible.
    applied = kube_client.apply(second, field_manager="team-b", force=True)
    assert applied.data == {"color": "red"}


def test_version_tells_the_truth(kube_target: KubeTarget) -> None:
    kubectl = Binaries.locate().kubectl if kube_target.local else "kubectl"
    output = subprocess.run(
        [str(kubectl), f"--kubeconfig={kube_target.kubeconfig}", "version", "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    versions = json.loads(output)
    if kube_target.local is not None:
        assert versions["serverVersion"]["gitVersion"] == KUBERNETES_VERSION
        assert versions["serverVersion"]["minor"] == KUBERNETES_VERSION.split(".")[1]
        assert versions["clientVersion"]["gitVersion"] == KUBERNETES_VERSION
    else:
        assert re.fullmatch(r"v1\.\d+\.\d+.*", versions["serverVersion"]["gitVersion"])
