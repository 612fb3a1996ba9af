"""Kubernetes objects the tests build: the Sandbox resource and a baseline app to fork."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Any

import yaml
from lightkube import ApiError, Client
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import (
    Container,
    ContainerPort,
    EnvVar,
    PodSpec,
    PodTemplateSpec,
    ServicePort,
    ServiceSpec,
)
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service
from lightkube.types import PatchType

from sandboxmesh.kube import Sandbox as SandboxResource


def apply_baseline(
    client: Client, namespace: str, name: str, *, replicas: int = 1, image: str = "example/app:1"
) -> None:
    """A Deployment (container `app`, labels app=NAME, tier=backend) and a Service for it."""
    labels = {"app": name, "tier": "backend"}
    client.apply(
        Deployment(
            metadata=ObjectMeta(name=name, namespace=namespace, labels={"app": name}),
            spec=DeploymentSpec(
                replicas=replicas,
                selector=LabelSelector(matchLabels={"app": name}),
                template=PodTemplateSpec(
                    metadata=ObjectMeta(labels=labels),
                    spec=PodSpec(
                        containers=[
                            Container(
                                name="app",
                                image=image,
                                ports=[ContainerPort(name="http", containerPort=8080)],
                                env=[EnvVar(name="GREETING", value="hello")],
                            )
                        ]
                    ),
                ),
            ),
        ),
        field_manager="tests",
    )
    client.apply(
        Service(
            metadata=ObjectMeta(name=name, namespace=namespace),
            spec=ServiceSpec(
                selector={"app": name},
                ports=[ServicePort(name="http", port=80, targetPort="http")],
            ),
        ),
        field_manager="tests",
    )


def service_account_kubeconfig(
    kubectl: str, admin_kubeconfig: Path, namespace: str, service_account: str, path: Path
) -> Path:
    """A kubeconfig that acts as a ServiceAccount (a token from the TokenRequest API), so a
    process run with it has exactly the RBAC the chart grants that account."""
    token = subprocess.run(
        [kubectl, f"--kubeconfig={admin_kubeconfig}", "-n", namespace, "create", "token",
         service_account, "--duration=2h"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": service_account, "user": {"token": token}}],
        "contexts": [{"name": service_account,
                      "context": {"cluster": cluster["name"], "user": service_account}}],
        "current-context": service_account,
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def purge_sandboxes(client: Client, labels: dict[str, str]) -> None:
    """Test cleanup: delete matching Sandboxes even when no operator runs to finalize them.

    Their fork objects carry owner references, so the garbage collector removes them once
    the Sandboxes are gone; nothing is left to slow down the next test's operator.
    """
    for sandbox in client.list(SandboxResource, labels=labels):
        name = sandbox.metadata.name if sandbox.metadata else None
        if not name:
            continue
        with contextlib.suppress(ApiError):
            client.delete(SandboxResource, name)
        with contextlib.suppress(ApiError):
            client.patch(SandboxResource, name, {"metadata": {"finalizers": None}},
                         patch_type=PatchType.MERGE)  # fmt: skip


def absent(client: Client, resource: Any, name: str, namespace: str | None = None) -> bool:
    """The object is not there (404); False while it is, or when the API answers otherwise."""
    try:
        client.get(resource, name, namespace=namespace)
    except ApiError as error:
        return error.status.code == 404
    return False


def sandbox_gone(client: Client, name: str) -> bool:
    """The Sandbox is no longer there (its finalizers done)."""
    return absent(client, SandboxResource, name)
