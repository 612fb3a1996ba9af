"""What PostgreSQL alone can do for creates on this machine: the ceiling for the HTTP figures.

The server's own create statement (`sandbox_statements.CREATE_POSTGRES`: both quota counters,
the cluster revision, the sandbox, its labels, usage record and audit event) is run straight
through asyncpg, a transaction of its own per create as the server runs it, from
`connections` connections at once, into the organisation, team and cluster the
HTTP run used. No HTTP, no authentication, no framework: the cheapest client there is. Every
create of one organisation takes the same three counter rows, so concurrent creates queue on
their row locks until each commit; that, with PostgreSQL's CPU on the cores it shares, is the
ceiling a server in front of it cannot pass.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import harness
import uvloop
import wrk_load

from sandboxmesh.controlplane.repository.sandbox_statements import CREATE_POSTGRES

_TARGET = """
SELECT c.org_id AS org, t.id AS team, t.name AS team_name, c.id AS cluster, c.name AS cluster_name
FROM clusters c JOIN teams t ON t.org_id = c.org_id
WHERE c.name = $1 ORDER BY t.id LIMIT 1
"""


def measure(
    dsn: str, *, cluster: str, spec: dict[str, Any], connections: int, seconds: float
) -> dict[str, Any]:
    """Creates/s and latency of the bare create statement; see the module's docstring."""
    return uvloop.run(_measure(dsn, cluster, spec, connections, seconds))


async def _measure(
    dsn: str, cluster: str, spec: dict[str, Any], connections: int, seconds: float
) -> dict[str, Any]:
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    try:
        target = await pool.fetchrow(_TARGET, cluster)
        if target is None:
            raise RuntimeError(f"no cluster {cluster!r} to create into")
        labels = spec.get("labels", {})
        audit = {"team": target["team_name"], "cluster": target["cluster_name"]}
        latencies: list[float] = []
        run = secrets.token_hex(3)
        deadline = time.monotonic() + seconds

        async def client(number: int) -> None:
            async with pool.acquire() as connection:
                statement = await connection.prepare(CREATE_POSTGRES.sql)
                count = 0
                while time.monotonic() < deadline:
                    count += 1
                    name = f"floor-{run}-{number}-{count}"
                    now = datetime.now(UTC)
                    values = CREATE_POSTGRES.arguments(
                        {
                            "org": target["org"],
                            "team": target["team"],
                            "cluster": target["cluster"],
                            "sandbox": name,
                            "document": spec,
                            "routing": secrets.token_hex(8),
                            "phase_value": "Pending",
                            "actor": "bench@example.com",
                            "now": now,
                            "expiry": None,
                            "team_label": target["team_name"],
                            "labels": labels,
                            "audit_target": f"sandbox/{name}",
                            "audit_details": audit,
                        }
                    )
                    started = time.perf_counter()
                    row = await statement.fetchrow(*values)
                    latencies.append(time.perf_counter() - started)
                    if row is None or row["sandbox_id"] is None:
                        raise RuntimeError(f"create refused: {dict(row or {})}")

        postgres_before = wrk_load.postgres_cpu_seconds()
        started = time.perf_counter()
        await asyncio.gather(*(client(number) for number in range(connections)))
        elapsed = time.perf_counter() - started
        postgres_cpu = wrk_load.postgres_cpu_seconds() - postgres_before
    finally:
        await pool.close()
    return {
        "per_second": round(len(latencies) / elapsed, 1),
        **harness.percentiles(latencies),  # n: the creates made
        "postgres_cpu_ms_per_request": round(postgres_cpu * 1000 / len(latencies), 3),
    }
