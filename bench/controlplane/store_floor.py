"""What PostgreSQL alone can do for creates on this machine: the ceiling for the HTTP figures.

The server's own create path below HTTP is run straight from Python, into the organisation,
team and cluster the HTTP run used, by `connections` clients at once, each making one create
after another: no HTTP, no authentication, no framework, the cheapest client there is.

- `batched` is what the server does: every create goes through a `CreateQueue`
  (repository/create_queue.py), which sends the creates of one organisation that arrive
  while its previous batch runs together in the next one.
- `one_by_one` is the same transaction (`sandbox_creates.commit_batch`) with one create each,
  every client on a connection of its own, as the server sent them before the queue: every
  create of the organisation takes the same three counter rows, so concurrent creates queue
  on their row locks until each commit.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import harness
import uvloop
import wrk_load

from sandboxmesh.controlplane.domain import secrets as issued_secrets
from sandboxmesh.controlplane.repository import sandbox_creates
from sandboxmesh.controlplane.repository.create_queue import CreateQueue
from sandboxmesh.controlplane.repository.sandbox_creates import NewSandbox, Outcome

_TARGET = """
SELECT c.org_id AS org, t.id AS team, t.name AS team_name, c.id AS cluster, c.name AS cluster_name
FROM clusters c JOIN teams t ON t.org_id = c.org_id
WHERE c.name = $1 ORDER BY t.id LIMIT 1
"""

Create = Callable[[int, NewSandbox], Awaitable[Outcome]]


def measure(
    dsn: str, *, cluster: str, spec: dict[str, Any], connections: int, seconds: float
) -> dict[str, Any]:
    """Both ways, batched first; see the module's docstring. The batched figures are the
    floor (`per_second`, ...), the other under `one_by_one`."""
    return uvloop.run(_both(dsn, cluster, spec, connections, seconds))


async def _both(
    dsn: str, cluster: str, spec: dict[str, Any], connections: int, seconds: float
) -> dict[str, Any]:
    target = await _target(dsn, cluster)
    queue = CreateQueue(dsn, connections=4)
    await queue.start()
    try:
        batched = await _run(target, spec, connections, seconds, queue.create)
    finally:
        await queue.stop()
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    try:
        one_by_one = await _run(target, spec, connections, seconds, _one_by_one(pool))
    finally:
        await pool.close()
    return {**batched, "one_by_one": one_by_one}


async def _target(dsn: str, cluster: str) -> asyncpg.Record:
    connection = await asyncpg.connect(dsn)
    try:
        target = await connection.fetchrow(_TARGET, cluster)
    finally:
        await connection.close()
    if target is None:
        raise RuntimeError(f"no cluster {cluster!r} to create into")
    return target


def _one_by_one(pool: asyncpg.Pool) -> Create:
    """Each create a transaction of its own, on a connection from `pool` (one per client)."""

    async def create(org: int, new: NewSandbox) -> Outcome:
        async with pool.acquire() as connection:
            return (await sandbox_creates.commit_batch(connection, org, [new]))[0]

    return create


async def _run(
    target: asyncpg.Record,
    spec: dict[str, Any],
    connections: int,
    seconds: float,
    create: Create,
) -> dict[str, Any]:
    latencies: list[float] = []
    run = secrets.token_hex(3)
    deadline = time.monotonic() + seconds

    async def client(number: int) -> None:
        count = 0
        while time.monotonic() < deadline:
            count += 1
            name = f"floor-{run}-{number}-{count}"
            new = NewSandbox(
                name=name,
                team_id=target["team"],
                team_name=target["team_name"],
                cluster_id=target["cluster"],
                spec=spec,
                routing_key=issued_secrets.routing_key(),
                actor="bench@example.com",
                at=datetime.now(UTC),
                expires_at=None,
                labels=spec.get("labels", {}),
                audit_details={"team": target["team_name"], "cluster": target["cluster_name"]},
            )
            started = time.perf_counter()
            outcome = await create(target["org"], new)
            latencies.append(time.perf_counter() - started)
            if not isinstance(outcome, sandbox_creates.Created):
                raise RuntimeError(f"create refused: {outcome}")

    postgres_before = wrk_load.postgres_cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(client(number) for number in range(connections)))
    elapsed = time.perf_counter() - started
    postgres_cpu = wrk_load.postgres_cpu_seconds() - postgres_before
    return {
        "per_second": round(len(latencies) / elapsed, 1),
        **harness.percentiles(latencies),  # n: the creates made
        "postgres_cpu_ms_per_request": round(postgres_cpu * 1000 / len(latencies), 3),
    }
