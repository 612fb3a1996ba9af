"""Kubernetes objects the tests build: the Sandbox resource and a baseline app to fork."""

from __future__ import annotations

from lightkube import Client
from lightkube.generic_resource import create_global_resource
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

from sandboxmesh.spec import crd

SandboxResource = create_global_resource(crd.GROUP, crd.VERSION, crd.KIND, crd.PLURAL)


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
