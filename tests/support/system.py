"""SandboxMesh's own processes for system tests: operator, agent, route server, control plane,
each real.

Each runs as `python -m sandboxmesh ...` with its log in the test's tmp_path, so a failing
test shows what the process said.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from sandboxmesh.controlplane.bootstrap import bootstrap as controlplane_bootstrap
from sandboxmesh.controlplane.domain import plans
from sandboxmesh.dev.processes import (
    ManagedProcess,
    NotReadyInTime,
    ProcessFailed,
    free_port,
    wait_until_ready,
)


@dataclass
class Process:
    """A `ManagedProcess` (the development wing's supervisor) and where it answers."""

    process: ManagedProcess
    #: The probe port (operator, agent) or the HTTP port (control plane).
    port: int
    host: str = "127.0.0.1"

    @property
    def name(self) -> str:
        return self.process.name

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        assert self.process.popen is not None
        return self.process.popen

    def url(self, path: str = "") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(self.url(path), timeout=2)
        except httpx.HTTPError:
            return None

    def is_ready(self) -> bool:
        response = self.get("/readyz")
        return response is not None and response.status_code == 200

    def alive(self) -> bool:
        return self.process.running

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until /readyz answers 200; a process that never gets there is stopped."""
        try:
            wait_until_ready(
                f"{self.name} to be ready",
                self.is_ready,
                deadline=time.monotonic() + timeout,
                watched=[self.process],
            )
        except (ProcessFailed, NotReadyInTime) as error:
            self.stop()
            raise AssertionError(f"{error}\n{self.log()[-3000:]}") from error

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a node dies."""
        self.process.kill()

    def stop(self) -> None:
        self.process.stop(timeout=20)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start(
    name: str,
    args: list[str],
    workdir: Path,
    *,
    port: int,
    env: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> Process:
    """Start `python -m sandboxmesh ARGS` with its output in WORKDIR/NAME-N.log; a killed test
    run takes it along."""
    index = len(list(workdir.glob(f"{name}-*.log")))
    process = ManagedProcess(
        name,
        [sys.executable, "-m", "sandboxmesh", *args],
        workdir / f"{name}-{index}.log",
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    return Process(process.start(), port, host)


#: The test operators' lease: short, so take-overs are quick, yet its renew deadline (3.3 s)
#: holds while the operator's event loop is busy with a burst of reconciles on two loaded
#: cores (2 s, a 1.3 s deadline, was missed on CI: the renewal is a real deadline now).
TEST_LEASE_SECONDS = 5


def start_operator(
    kubeconfig: Path,
    workdir: Path,
    *args: str,
    wait: bool = True,
    lease_duration: int = TEST_LEASE_SECONDS,
) -> Process:
    """An operator; its short lease makes take-overs quick, and a longer one lets it ride out
    an outage of the API server."""
    port = free_port()
    process = start(
        "operator",
        [
            "operator", f"--kubeconfig={kubeconfig}", f"--probe-port={port}",
            "--probe-host=127.0.0.1", f"--lease-duration={lease_duration}", "--drain=0.5",
            "--log-format=text", *args,
        ],
        workdir,
        port=port,
    )  # fmt: skip
    if wait:
        process.wait_ready()
    return process


def start_agent(
    url: str, kubeconfig: Path, workdir: Path, *args: str, wait: bool = True, poll_wait: float = 5
) -> Process:
    port = free_port()
    process = start(
        "agent",
        [
            "agent", f"--url={url}", f"--kubeconfig={kubeconfig}", f"--probe-port={port}",
            "--probe-host=127.0.0.1", f"--poll-wait={poll_wait}", "--log-format=text", *args,
        ],
        workdir,
        port=port,
    )  # fmt: skip
    if wait:
        process.wait_ready()
    return process


def start_route_server(kubeconfig: Path, workdir: Path, *args: str) -> Process:
    """A route server watching the cluster; `port` is its HTTP API (/readyz, /v1/routes)."""
    port = free_port()
    process = start(
        "route-server",
        [
            "route-server", f"--kubeconfig={kubeconfig}", "--xds-host=127.0.0.1", "--xds-port=0",
            f"--http-port={port}", *args,
        ],
        workdir,
        port=port,
    )  # fmt: skip
    process.wait_ready()
    return process


def start_server(
    database_url: str, home: Path, *, port: int | None = None, host: str = "127.0.0.1"
) -> Process:
    """The control plane; `host` the node's address where Pods (the chart's agent) reach it."""
    port = port or free_port()
    process = start(
        "server",
        ["server", "--database-url", database_url, "--host", host, "--port", str(port)],
        home,
        port=port,
        env={"SANDBOXMESH_HOME": str(home)},
        host=host,
    )
    process.wait_ready()
    return process


def bootstrap(database_url: str, home: Path, org: str = "acme") -> str:
    """What `sandboxmesh admin bootstrap` does, in this process: a CLI process start costs
    seconds, and the CLI has tests of its own."""
    return asyncio.run(
        controlplane_bootstrap(
            database_url,
            org=org,
            owner_email=f"owner@{org}.example",
            plan=plans.Plan.TEAM,
            token_ttl=timedelta(days=1),
        )
    )
