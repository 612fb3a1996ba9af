"""The service shell: health, readiness, metrics, OpenAPI, JSON errors, migrations."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.store import migrate


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
