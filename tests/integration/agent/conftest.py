"""A real control plane (server process) with a registered cluster, for the agent's tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.support.kube import purge_sandboxes
from tests.support.system import Process, bootstrap, start_agent, start_server

from sandboxmesh.client import ClientConfig, ControlPlaneClient, endpoints, errors
from sandboxmesh.dev.pytest_plugin import KubeTarget
from sandboxmesh.spec.api import SandboxPublic

CLUSTER = "local"


@dataclass
class ControlPlane:
    database_url: str
    home: Path
    token: str
    server: Process
    client: ControlPlaneClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = ControlPlaneClient(ClientConfig(self.server.url(), self.token))

    @property
    def url(self) -> str:
        return self.server.url()

    def stop(self) -> None:
        self.server.stop()

    def start_again(self) -> None:
        """The same server (same port, same database) back after an outage."""
        self.server = start_server(self.database_url, self.home, port=self.server.port)

    def apply(self, name: str, forks: list[dict[str, Any]]) -> SandboxPublic:
        document = {"name": name, "spec": {"cluster": CLUSTER, "forks": forks}}
        return self.client.send(endpoints.apply_sandbox(document))

    def sandbox(self, name: str) -> SandboxPublic | None:
        try:
            return self.client.send(endpoints.get_sandbox(name))
        except errors.NotFound:
            return None

    def phase(self, name: str) -> str | None:
        sandbox = self.sandbox(name)
        return None if sandbox is None else sandbox.status.phase


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[ControlPlane]:
    database_url = f"sqlite:///{tmp_path / 'controlplane.db'}"
    token = bootstrap(database_url, tmp_path)
    plane = ControlPlane(database_url, tmp_path, token, start_server(database_url, tmp_path))
    yield plane
    plane.client.close()
    plane.stop()


@dataclass
class AgentRunner:
    control_plane: ControlPlane
    kube_target: KubeTarget
    workdir: Path
    token_file: Path
    started: list[Process] = field(default_factory=list)

    def start(self, *args: str, wait: bool = True) -> Process:
        token_args = args or (f"--token-file={self.token_file}",)
        process = start_agent(
            self.control_plane.url, self.kube_target.kubeconfig, self.workdir, *token_args,
            wait=wait,
        )  # fmt: skip
        self.started.append(process)
        return process


@pytest.fixture
def cluster_token(control_plane: ControlPlane) -> str:
    return control_plane.client.send(endpoints.register_cluster(CLUSTER)).token


@pytest.fixture
def agents(
    control_plane: ControlPlane, kube_target: KubeTarget, tmp_path: Path, cluster_token: str
) -> Iterator[AgentRunner]:
    token_file = tmp_path / "cluster-token"
    token_file.write_text(cluster_token)
    runner = AgentRunner(control_plane, kube_target, tmp_path, token_file)
    yield runner
    for process in runner.started:
        process.stop()
    client = kube_target.client()
    try:
        purge_sandboxes(client, {"app.kubernetes.io/managed-by": "sandboxmesh-agent"})
    finally:
        client.close()
