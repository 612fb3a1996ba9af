"""Liveness, readiness and Prometheus metrics (unauthenticated, no tenant data)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from sandboxmesh.controlplane.api.deps import RuntimeDep

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
async def metrics(runtime: RuntimeDep) -> Response:
    return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
