"""Fixtures shared by the integration suites: the operator as a process, a baseline app, the
control plane's databases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace
from tests.support import databases
from tests.support.controlplane import Clock
from tests.support.eventually import eventually
from tests.support.kube import apply_baseline
from tests.support.system import TEST_LEASE_SECONDS, Process, start_operator

from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.dev.demo.mail_catcher import MailCatcher
from sandboxmesh.dev.processes import free_port
from sandboxmesh.dev.pytest_plugin import KubeTarget
from sandboxmesh.operator.status import rollout_complete

LEASE_NAMESPACE = "sandboxmesh-system"


@dataclass
class OperatorFactory:
    kube_target: KubeTarget
    tmp_path: Path
    started: list[Process] = field(default_factory=list)

    def start(
        self, *args: str, wait_ready: bool = True, lease_duration: int = TEST_LEASE_SECONDS
    ) -> Process:
        process = start_operator(
            self.kube_target.kubeconfig,
            self.tmp_path,
            *args,
            wait=wait_ready,
            lease_duration=lease_duration,
        )
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
    # Rolled out before the test starts: kube-controller-manager writes the Deployment's
    # status (a new resourceVersion each time) for a moment after the apply, and tests compare
    # the operator's snapshot of it with the live object and count the baseline's Pods.
    eventually(
        lambda: rollout_complete(
            kube_client.get(Deployment, "checkout", namespace=namespace).to_dict()
        )[1],
        timeout=60,
        what="the baseline rolled out",
    )
    return {"kind": "Deployment", "namespace": namespace, "name": "checkout"}


# The control plane's stores, for the control-plane and portal suites: every test that asks for
# `database_url` runs twice, on SQLite and on PostgreSQL, each from a migrated template.


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "controlplane.db"
    databases.migrated_sqlite(path)
    return path


@pytest.fixture(scope="session")
def postgres_admin() -> str | None:
    url = databases.postgres_admin_url()
    if url is not None:
        databases.create_postgres_template(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_admin: str | None,
) -> Iterator[str]:
    if request.param == "sqlite":
        yield databases.copy_sqlite(sqlite_template, tmp_path / "controlplane.db")
        return
    with databases.fresh_postgres_database(postgres_admin) as url:
        yield url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mail_catcher() -> Iterator[MailCatcher]:
    """A real SMTP server on loopback for this test; the control plane's mail goes there."""
    with MailCatcher(port=free_port()) as catcher:
        yield catcher


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    """The runtime of the suite's `app` (each suite builds its app with its own settings)."""
    found: Runtime = app.state.runtime
    return found
