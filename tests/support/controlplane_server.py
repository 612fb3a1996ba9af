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


@contextmanager
def served_store(
    store: str, workdir: Path, sqlite_template: Path, postgres_admin: str | None
) -> Iterator[tuple[str, str]]:
    """A server process on a store of its own (`sqlite`: a copy of the migrated template;
    `postgres`: a fresh database, dropped afterwards); yields (server URL, database URL)."""
    import pytest
    from tests.support import databases

    if store == "sqlite":
        database_url = databases.copy_sqlite(sqlite_template, workdir / "controlplane.db")
    elif postgres_admin is None:
        pytest.skip(databases.SKIP_POSTGRES)
    else:
        database_url = databases.create_postgres_database(postgres_admin)
    try:
        with server_process(database_url, workdir) as url:
            yield url, database_url
    finally:
        if postgres_admin is not None and store == "postgres":
            databases.drop_postgres_database(postgres_admin, database_url)
