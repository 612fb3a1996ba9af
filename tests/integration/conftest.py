"""Fixtures shared by the integration suites: the operator as a process, a baseline app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from tests.support.kube import apply_baseline
from tests.support.system import Process, start_operator

from sandboxmesh.localcluster.pytest_plugin import KubeTarget

LEASE_NAMESPACE = "sandboxmesh-system"


@dataclass
class OperatorFactory:
    kube_target: KubeTarget
    tmp_path: Path
    started: list[Process] = field(default_factory=list)

    def start(self, *args: str, wait_ready: bool = True) -> Process:
        process = start_operator(self.kube_target.kubeconfig, self.tmp_path, *args, wait=wait_ready)
        self.started.append(process)
        return process


@pytest.fixture(scope="session")
def lease_namespace(kube_target: KubeTarget) -> str:
    client = kube_target.client()
    try:
        client.create(Namespace(metadata=ObjectMeta(name=LEASE_NAMESPACE)))
    except ApiError as error:
        if error.status.code != 409:
            raise
    finally:
        client.close()
    return LEASE_NAMESPACE


@pytest.fixture
def operators(
    kube_target: KubeTarget, lease_namespace: str, tmp_path: Path, kube_client: Client
) -> Iterator[OperatorFactory]:
    factory = OperatorFactory(kube_target, tmp_path)
    yield factory
    for process in factory.started:
        process.stop()


@pytest.fixture
def operator(operators: OperatorFactory) -> Process:
    return operators.start()


@pytest.fixture
def baseline(kube_client: Client, namespace: str) -> dict[str, str]:
    """A baseline `checkout` Deployment (2 replicas, container `app`) behind a Service."""
    apply_baseline(kube_client, namespace, "checkout", replicas=2)
    return {"kind": "Deployment", "namespace": namespace, "name": "checkout"}
