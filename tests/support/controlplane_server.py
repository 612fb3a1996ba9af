"""A real `sandboxmesh server` process on a free loopback port, for CLI and scale-out tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
from tests.support.eventually import eventually


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
    log = (home / f"server-{port}.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandboxmesh",
            "server",
            "--database-url",
            database_url,
            "--port",
            str(port),
            *args,
        ],
        env={**os.environ, "SANDBOXMESH_HOME": str(home), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {(home / log.name).read_text()[-2000:]}")
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200

        eventually(ready, timeout=90, what=f"the control plane at {url}")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
