"""What the control-plane benchmarks share: a real server process, an organisation, stats.

Stores: SQLite in a temporary directory always; PostgreSQL when SANDBOXMESH_TEST_DATABASE_URL
names a server (run the script under `hack/postgres.sh run --`, with POSTGRES_DURABLE=1 for
fsync and synchronous commit on); each run gets a fresh database.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

POSTGRES_ENV = "SANDBOXMESH_TEST_DATABASE_URL"


def stores(workdir: Path, wanted: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(store name, database URL) for SQLite and, when available, a fresh PostgreSQL db."""
    if "sqlite" in wanted:
        yield "sqlite", f"sqlite:///{workdir / 'bench.db'}"
    admin = os.environ.get(POSTGRES_ENV)
    if "postgresql" in wanted and not admin:
        print(f"postgresql skipped: {POSTGRES_ENV} is not set", file=sys.stderr)
    if "postgresql" in wanted and admin:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(admin, f"CREATE DATABASE {name}"))
        try:
            yield "postgresql", make_url(admin).set(database=name).render_as_string(False)
        finally:
            asyncio.run(_admin(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bootstrap(database_url: str, home: Path) -> str:
    """An enterprise organisation with no practical limit; returns the owner's token."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandboxmesh",
            "admin",
            "bootstrap",
            "--org",
            "bench",
            "--email",
            "bench@example.com",
            "--plan",
            "enterprise",
            "--database-url",
            database_url,
            "-o",
            "json",
        ],
        env={**os.environ, "SANDBOXMESH_HOME": str(home)},
        check=True,
        capture_output=True,
        text=True,
    )
    token: str = json.loads(out.stdout)["token"]
    # Beyond the plan's 1,000: only the installation's owners may (the API refuses it).
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sandboxmesh",
            "admin",
            "org-limit",
            "--org",
            "bench",
            "--max-sandboxes",
            "1000000",
            "--database-url",
            database_url,
        ],
        env={**os.environ, "SANDBOXMESH_HOME": str(home)},
        check=True,
        capture_output=True,
    )
    return token


@contextmanager
def server(
    database_url: str, home: Path, *, workers: int = 1, **env: str
) -> Iterator[tuple[str, int]]:
    """A `sandboxmesh server` process; yields its URL and pid once /readyz answers.

    With `workers` > 1 (PostgreSQL only) the pid is the parent of the worker processes.
    """
    port = _free_port()
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
            *(["--workers", str(workers)] if workers > 1 else []),
        ],
        env={
            **os.environ,
            "SANDBOXMESH_HOME": str(home),
            "SANDBOXMESH_LOG_LEVEL": "WARNING",
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited; see {log.name}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready; see {log.name}")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def rss_mib(pid: int) -> float:
    """The resident memory of `pid` and its child processes (a server's workers)."""
    total = 0
    for process in (pid, *_children(pid)):
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    if not total:
        raise RuntimeError(f"no VmRSS for {pid}")
    return round(total / 1024, 1)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found += [child, *_children(child)]
    return found


def percentiles(samples: Sequence[float]) -> dict[str, Any]:
    """p50/p99/max in milliseconds."""
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "n": len(ordered),
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def sandbox(name: str, cluster: str) -> dict[str, Any]:
    return {
        "name": name,
        "spec": {
            "cluster": cluster,
            "labels": {"bench": "yes"},
            "forks": [
                {
                    "forkOf": {"kind": "Deployment", "namespace": "shop", "name": "checkout"},
                    "customizations": {
                        "images": [{"container": "app", "image": "registry.example/c:1"}]
                    },
                }
            ],
        },
    }
