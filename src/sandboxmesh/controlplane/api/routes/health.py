"""Liveness and readiness (unauthenticated, no tenant data) and Prometheus metrics (see
`metrics_access`: open in development, behind a token or closed in production)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from sandboxmesh.controlplane.web.dependencies import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """The store answers (and, on PostgreSQL, change notifications are being received)."""
    problems = []
    try:
        await runtime.require_store().ping()
    except Exception as error:
        problems.append(f"store: {type(error).__name__}")
    if runtime.listener is not None and not runtime.listener.connected.is_set():
        problems.append("notifications: not listening")
    if problems:
        return JSONResponse(
            {"code": "not_ready", "message": "; ".join(problems), "details": {}}, status_code=503
        )
    return JSONResponse({"status": "ready"})


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """Prometheus metrics: for anyone in development, else with the bearer token of
    `SANDBOXMESH_METRICS__TOKEN_FILE` (403 when none is configured)."""
    runtime.metrics_gate.check(request.headers.get("authorization"))
    return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
