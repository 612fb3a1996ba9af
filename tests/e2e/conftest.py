"""The whole system as separate processes: control plane, local cluster, operator, agent.

The operator and the agent run with ServiceAccount tokens bound by the Helm chart's own RBAC,
so these tests also prove the chart grants them enough (and the chart tests that it grants
no more). Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from tests.support import databases
from tests.support.kube import apply_baseline, purge_sandboxes, service_account_kubeconfig
from tests.support.system import (
    TEST_LEASE_SECONDS,
    Process,
    bootstrap,
    start_agent,
    start_operator,
    start_route_server,
    start_server,
)

from sandboxmesh.dev.cluster import Binaries
from sandboxmesh.dev.pytest_plugin import KubeTarget

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "sandboxmesh"
RELEASE = "sandboxmesh"
TOKEN_SECRET = "sandboxmesh-agent-token"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'controlplane.db'}"
        return
    admin = databases.postgres_admin_url()
    if admin is None:
        pytest.skip(databases.SKIP_POSTGRES)
    url = databases.create_empty_postgres_database(admin)
    try:
        yield url
    finally:
        databases.drop_postgres_database(admin, url)


@dataclass
class System:
    home: Path
    kube_target: KubeTarget
    namespace: str
    agent_kubeconfig: Path
    operator_kubeconfig: Path
    server: Process
    processes: list[Process] = field(default_factory=list)

    def cli(
        self, *args: str, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "sandboxmesh", *args],
            env={**os.environ, "SANDBOXMESH_HOME": str(self.home)},
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"sandboxmesh {' '.join(args)} failed:\n{result.stderr}")
        return result

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "-o", "json").stdout)

    def start_agent(self) -> Process:
        process = start_agent(
            self.server.url(), self.agent_kubeconfig, self.home,
            f"--token-secret={self.namespace}/{TOKEN_SECRET}",
        )  # fmt: skip
        self.processes.append(process)
        return process

    def start_operator(self, lease_duration: int = TEST_LEASE_SECONDS) -> Process:
        process = start_operator(
            self.operator_kubeconfig, self.home, f"--lease-namespace={self.namespace}",
            lease_duration=lease_duration,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def start_route_server(self) -> Process:
        process = start_route_server(self.kube_target.kubeconfig, self.home)
        self.processes.append(process)
        return process


def _kubectl(target: KubeTarget, *args: str, stdin: str | None = None) -> str:
    binary = str(Binaries.locate().kubectl) if target.local else "kubectl"
    return subprocess.run(
        [binary, f"--kubeconfig={target.kubeconfig}", *args], input=stdin,
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


@pytest.fixture
def system(
    database_url: str, tmp_path: Path, kube_target: KubeTarget, kube_client: Client
) -> Iterator[System]:
    """A user logged in to a fresh control plane, whose cluster runs the chart's agent and
    operator identities; the cluster is registered and its token stored as the install
    command says."""
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    kube_client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    rendered = subprocess.run(
        [str(Binaries.locate().helm), "template", RELEASE, str(CHART), "--namespace", namespace,
         "--set", "controlPlane.url=http://unused"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    identities = [
        d for d in yaml.safe_load_all(rendered)
        if d and d["kind"] in {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                               "RoleBinding"}
    ]  # fmt: skip
    _kubectl(kube_target, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(identities))
    kubectl = str(Binaries.locate().kubectl) if kube_target.local else "kubectl"
    agent_kubeconfig = service_account_kubeconfig(
        kubectl,
        kube_target.kubeconfig,
        namespace,
        f"{RELEASE}-agent",
        tmp_path / "agent.kubeconfig",
    )
    operator_kubeconfig = service_account_kubeconfig(
        kubectl, kube_target.kubeconfig, namespace, f"{RELEASE}-operator",
        tmp_path / "operator.kubeconfig",
    )  # fmt: skip

    token = bootstrap(database_url, tmp_path)
    server = start_server(database_url, tmp_path)
    system = System(tmp_path, kube_target, namespace, agent_kubeconfig, operator_kubeconfig, server)
    system.processes.append(server)
    try:
        system.cli("login", "--url", server.url(), "--token", token)
        registered = system.cli_json("cluster", "register", "local")
        _kubectl(kube_target, "-n", namespace, "create", "secret", "generic", TOKEN_SECRET,
                 f"--from-literal=token={registered['token']}")  # fmt: skip
        yield system
    finally:
        for process in reversed(system.processes):
            process.stop()
        purge_sandboxes(kube_client, {"app.kubernetes.io/managed-by": "sandboxmesh-agent"})
        _kubectl(kube_target, "delete", "-f", "-", "--ignore-not-found", "--wait=false",
                 stdin=yaml.safe_dump_all(identities))  # fmt: skip


@pytest.fixture
def shop(kube_client: Client, namespace: str) -> str:
    """The baseline app to fork: `checkout` behind a Service, in a namespace of its own."""
    apply_baseline(kube_client, namespace, "checkout", replicas=2)
    return namespace


def manifest(path: Path, name: str, namespace: str, **extra: Any) -> Path:
    document = {
        "name": name,
        "spec": {
            "cluster": "local",
            "description": "e2e",
            "forks": [{
                "forkOf": {"kind": "Deployment", "namespace": namespace, "name": "checkout"},
                "customizations": {"images": [{"container": "app", "image": "example/app:pr"}]},
            }],
            **extra,
        },
    }  # fmt: skip
    path.write_text(yaml.safe_dump(document))
    return path
