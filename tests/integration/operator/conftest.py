"""The operator as a real process against the real local cluster, and baselines to fork."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from tests.support.eventually import eventually
from tests.support.kube import SandboxResource, apply_baseline

from sandboxmesh.localcluster.processes import free_port
from sandboxmesh.localcluster.pytest_plugin import KubeTarget

LEASE_NAMESPACE = "sandboxmesh-system"


@dataclass
class OperatorProcess:
    popen: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def is_ready(self) -> bool:
        try:
            return httpx.get(self.url("/readyz"), timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release, as when a node dies."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class OperatorFactory:
    kube_target: KubeTarget
    tmp_path: Path
    started: list[OperatorProcess] = field(default_factory=list)

    def start(self, *args: str, wait_ready: bool = True) -> OperatorProcess:
        port = free_port()
        log_path = self.tmp_path / f"operator-{len(self.started)}.log"
        command = [
            sys.executable, "-m", "sandboxmesh", "operator",
            f"--kubeconfig={self.kube_target.kubeconfig}",
            f"--probe-port={port}", "--probe-host=127.0.0.1",
            "--lease-duration=2", "--drain=0.5", "--log-format=text", *args,
        ]  # fmt: skip
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        process = OperatorProcess(popen, port, log_path)
        self.started.append(process)
        if wait_ready:

            def ready() -> bool:
                assert popen.poll() is None, f"operator exited:\n{process.log()[-3000:]}"
                return process.is_ready()

            eventually(ready, timeout=30, what="the operator to lead and be ready")
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
def operator(operators: OperatorFactory) -> OperatorProcess:
    return operators.start()


@pytest.fixture
def sandboxes(kube_client: Client, operator: OperatorProcess) -> Iterator[SandboxFactory]:
    """Creates Sandbox objects; deletes them (while the operator still runs) afterwards."""
    factory = SandboxFactory(kube_client)
    yield factory
    factory.delete_all(wait=operator.popen.poll() is None)


@dataclass
class SandboxFactory:
    client: Client
    names: list[str] = field(default_factory=list)

    def create(
        self, forks: list[dict[str, Any]], name: str | None = None, routing_key: str | None = None
    ) -> str:
        name = name or f"sbx-{uuid.uuid4().hex[:8]}"
        self.client.create(
            SandboxResource(
                metadata=ObjectMeta(name=name),
                spec={
                    "cluster": "local",
                    "routingKey": routing_key or uuid.uuid4().hex[:16],
                    "forks": forks,
                },
            )
        )
        self.names.append(name)
        return name

    def get(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.client.get(SandboxResource, name).to_dict()
        return result

    def wait_for(
        self, name: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30
    ) -> dict[str, Any]:
        def matches() -> dict[str, Any] | None:
            body = self.get(name)
            return body if check(body) else None

        return eventually(matches, timeout=timeout, what=f"sandbox {name}: {what}")

    def wait_phase(self, name: str, phase: str, timeout: float = 30) -> dict[str, Any]:
        return self.wait_for(
            name,
            lambda b: (b.get("status") or {}).get("phase") == phase,
            f"phase {phase}",
            timeout,
        )

    def delete_all(self, wait: bool) -> None:
        for name in self.names:
            try:
                self.client.delete(SandboxResource, name)
            except ApiError as error:
                if error.status.code != 404:
                    raise
        if wait:
            for name in self.names:
                eventually(
                    lambda name=name: _gone(self.client, name),
                    timeout=60,
                    what=f"sandbox {name} deleted",
                )


def _gone(client: Client, name: str) -> bool:
    try:
        client.get(SandboxResource, name)
    except ApiError as error:
        return error.status.code == 404
    return False


@pytest.fixture
def baseline(kube_client: Client, namespace: str) -> dict[str, str]:
    """A baseline `checkout` Deployment (2 replicas, container `app`) behind a Service."""
    apply_baseline(kube_client, namespace, "checkout", replicas=2)
    return {"kind": "Deployment", "namespace": namespace, "name": "checkout"}
