"""One container's local process: started, probed for readiness, restarted, stopped.

Each process runs in a session of its own: a Ctrl-C in the terminal reaches the program that
owns the local node, which then stops its Pods' processes in order, rather than every process
at once; stopping signals the whole process group, so nothing a program spawned outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from sandboxmesh.localpods.podspec import ContainerPlan
from sandboxmesh.localpods.podstatus import ContainerState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessSettings:
    #: Seconds between readiness checks until the first success (a local run wants speed).
    probe_interval: float = 0.05
    probe_timeout: float = 1.0
    restart_backoff: float = 1.0
    restart_backoff_max: float = 10.0


def rfc3339(at: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ContainerProcess:
    """Runs `plan`'s program with `env` until stopped; `on_change` hears every state change."""

    def __init__(
        self,
        plan: ContainerPlan,
        env: Mapping[str, str],
        local_ports: Mapping[int, int],
        log_path: Path,
        on_change: Callable[[], None],
        settings: ProcessSettings,
    ) -> None:
        assert plan.program is not None, "a container without a program is never started"
        self.plan = plan
        self.argv = plan.program.argv
        self.env = dict(env)
        self.local_ports = dict(local_ports)
        self.log_path = log_path
        self.on_change = on_change
        self.settings = settings
        self.state = ContainerState(plan.name, plan.image)
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"container {self.plan.name}")

    def _set(self, **changes: object) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]
        self.on_change()

    async def _supervise(self) -> None:
        backoff = self.settings.restart_backoff
        while True:
            started = time.monotonic()
            try:
                with self.log_path.open("ab") as output:
                    self._process = await asyncio.create_subprocess_exec(
                        *self.argv,
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
            except OSError as error:
                self._set(waiting=("RunContainerError", str(error)))
            else:
                self._set(running_since=rfc3339(), pid=self._process.pid, ready=False, waiting=None)
                prober = asyncio.create_task(self._probe_until_ready())
                try:
                    code = await self._process.wait()
                finally:
                    prober.cancel()
                log.warning("local pods: %s exited with %s", self.plan.name, code)
                self._process = None
                self._set(
                    running_since=None,
                    pid=None,
                    ready=False,
                    last_exit_code=code,
                    restart_count=self.state.restart_count + 1,
                    waiting=("CrashLoopBackOff", f"exited with {code}; restarting"),
                )
            if time.monotonic() - started > 10 * self.settings.restart_backoff_max:
                backoff = self.settings.restart_backoff
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.restart_backoff_max)

    async def _probe_until_ready(self) -> None:
        probe = self.plan.probe
        port = None if probe.container_port is None else self.local_ports[probe.container_port]
        async with httpx.AsyncClient(timeout=self.settings.probe_timeout) as http:
            # A process says nothing when it starts listening: poll, as a kubelet does.
            while True:
                if await self._check(http, port, probe.http_path):
                    break
                await asyncio.sleep(self.settings.probe_interval)
        self._set(ready=True)

    async def _check(self, http: httpx.AsyncClient, port: int | None, path: str | None) -> bool:
        if port is None:
            return True
        try:
            if path is not None:
                response = await http.get(f"http://127.0.0.1:{port}{path}")
                return 200 <= response.status_code < 400
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except (OSError, httpx.HTTPError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def stop(self, grace: float) -> None:
        """SIGTERM the process group, SIGKILL it after `grace` seconds; no restart after."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=grace)
        except TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)
            await process.wait()
        self.state = replace(self.state, running_since=None, pid=None, ready=False)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
