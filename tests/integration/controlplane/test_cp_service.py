"""The service shell: health, readiness, metrics, OpenAPI, JSON errors, migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from tests.support import databases

from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.store import migrate
from sandboxmesh.controlplane.store.engine import Store, create_engine
from sandboxmesh.controlplane.store.tables import organizations


async def test_health_ready_and_openapi(transport: httpx.ASGITransport) -> None:
    async with httpx.AsyncClient(transport=transport, base_url="http://cp") as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).json() == {"status": "ready"}
        schema = (await http.get("/openapi.json")).json()
    assert schema["info"]["title"] == "SandboxMesh control plane"
    for path in ("/api/v1/sandboxes/{name}", "/api/v1/agent/assignments", "/api/v1/usage"):
        assert path in schema["paths"]


async def test_metrics_count_requests_by_route(transport: httpx.ASGITransport) -> None:
    async with httpx.AsyncClient(transport=transport, base_url="http://cp") as http:
        await http.get("/healthz")
        await http.get("/api/v1/teams")  # 401, still counted
        text = (await http.get("/metrics")).text
    assert 'sandboxmesh_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="/api/v1/teams",status="401"' in text
    assert "sandboxmesh_agent_long_polls_waiting" in text


async def test_errors_are_json_with_a_code(transport: httpx.ASGITransport) -> None:
    async with httpx.AsyncClient(transport=transport, base_url="http://cp") as http:
        missing = await http.get("/no/such/path")
        unauthenticated = await http.get("/api/v1/teams")
        wrong_method = await http.patch("/healthz")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert unauthenticated.status_code == 401
    assert unauthenticated.json() == {
        "code": "unauthorized",
        "message": "missing bearer token (Authorization: Bearer <token>)",
        "details": {},
    }
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


async def test_the_store_is_at_the_head_migration(app: FastAPI, runtime: Runtime) -> None:
    store = runtime.require_store()
    assert await migrate.current_revision(store.engine) == migrate.head_revision()
    # Upgrading again is a no-op, as on every restart.
    assert await migrate.upgrade(store.engine) == migrate.head_revision()


async def test_sqlite_runs_in_wal_mode(app: FastAPI, runtime: Runtime) -> None:
    store = runtime.require_store()
    if store.is_postgres:
        return
    async with store.engine.connect() as connection:
        mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
    assert mode == "wal"


async def test_sqlite_transactions_of_a_process_take_the_write_lock_in_turn(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """In the order they asked, not by the luck of SQLite's busy handler (its sleeps left
    some creates waiting seconds behind later ones)."""
    store = Store(create_engine(databases.copy_sqlite(sqlite_template, tmp_path / "cp.db")))
    holding, release = asyncio.Event(), asyncio.Event()
    order: list[int] = []

    async def first() -> None:
        async with store.transaction() as connection:
            await connection.execute(sa.select(organizations.c.id))
            holding.set()
            await release.wait()

    async def then(number: int) -> None:
        async with store.transaction() as connection:
            order.append(number)
            await connection.execute(organizations.update().values(plan="team"))

    try:
        holder = asyncio.create_task(first())
        await holding.wait()
        waiting = [asyncio.create_task(then(number)) for number in range(12)]
        # One turn of the event loop: each task asks for the lock in its first step.
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(holder, *waiting)
    finally:
        await store.dispose()
    assert order == list(range(12))
