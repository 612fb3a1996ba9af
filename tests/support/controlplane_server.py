"""A real `sandboxmesh server` process on a free loopback port, for CLI and scale-out tests."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from sandboxmesh.dev.processes import ManagedProcess, free_port, wait_until_ready


@contextmanager
def server_process(
    database_url: str,
    home: Path,
    *,
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
) -> Iterator[str]:
    """Start the control plane; yields its URL once /readyz answers; stops it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = ManagedProcess(
        "server",
        [sys.executable, "-m", "sandboxmesh", "server", "--database-url", database_url,
         "--port", str(port), *args],
        home / f"server-{port}.log",
        env={**os.environ, "SANDBOXMESH_HOME": str(home), **(env or {})},
    )  # fmt: skip
    server.start()
    try:
        wait_until_ready(
            f"the control plane at {url}",
            lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200,
            deadline=time.monotonic() + 90,
            watched=[server],
        )
        yield url
    finally:
        server.stop(timeout=15)
