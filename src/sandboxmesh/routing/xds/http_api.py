"""The route server's HTTP/JSON face: the route table, connected Envoys, route traces,
health and metrics.

Applications that route by themselves (message-queue consumers deciding whether a message
belongs to a fork) read `/v1/routes`. The table holds routing keys: expose this port inside
the cluster only (the chart's Service is ClusterIP; docs/routing.md §4 says which clients a
NetworkPolicy should admit).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandboxmesh.routing.core.table import ServiceRef
from sandboxmesh.routing.core.trace import TRACE_STATE_MEMBER, TraceBuffer
from sandboxmesh.routing.metrics import RouteServerMetrics
from sandboxmesh.routing.state import RouteState
from sandboxmesh.routing.xds.service import AggregatedDiscoveryService
from sandboxmesh.supervisor import Supervisor


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"code": code, "message": message, "details": details or {}}
    )


def create_app(
    state: RouteState,
    ads: AggregatedDiscoveryService,
    metrics: RouteServerMetrics,
    supervisor: Supervisor | None = None,
    traces: TraceBuffer | None = None,
) -> FastAPI:
    """The API over `state`; /readyz also fails once a task of `supervisor` has failed."""
    app = FastAPI(title="SandboxMesh route server", docs_url=None, redoc_url=None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if error.status_code == 404 else "http_error"
        return _error(error.status_code, code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", "the request does not validate", error.errors())

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        if supervisor is not None and supervisor.failure is not None:
            return _error(503, "failed", supervisor.failure)
        if not state.synced:
            return _error(503, "not_synced", "the Sandbox objects have not been listed yet")
        return JSONResponse({"status": "ok", "generation": state.generation})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/routes")
    async def routes() -> dict[str, Any]:
        return {
            "generation": state.generation,
            "synced": state.synced,
            "updatedAt": state.updated_at,
            **state.table.to_json(),
        }

    @app.get("/v1/routes/{namespace}/{service}")
    async def service_routes(namespace: str, service: str) -> JSONResponse:
        baseline = ServiceRef(namespace, service)
        found = state.table.routes_for(baseline)
        if not found:
            return _error(
                404,
                "no_routes",
                f"no fork routes for Service {baseline}: requests reach the baseline",
                {"namespace": namespace, "service": service},
            )
        return JSONResponse(
            {
                "namespace": namespace,
                "service": service,
                "routes": [
                    {"routingKey": r.key, "sandbox": r.sandbox, "forkService": r.fork.name}
                    for r in found
                ],
            }
        )

    @app.get("/v1/traces/{trace_id}")
    async def route_trace(trace_id: str) -> JSONResponse:
        if re.fullmatch("[0-9a-f]{32}", trace_id) is None:
            return _error(
                400, "invalid_trace_id", "a trace id is 32 lowercase hex digits (W3C traceparent)"
            )
        hops = traces.get(trace_id) if traces is not None else []
        if not hops:
            return _error(
                404,
                "no_trace",
                f"no router reported trace {trace_id} (yet): routers log a request only when "
                f"its tracestate holds `{TRACE_STATE_MEMBER}=...`",
            )
        return JSONResponse({"traceId": trace_id, "hops": [hop.to_json() for hop in hops]})

    @app.get("/v1/xds/nodes")
    async def nodes() -> dict[str, Any]:
        return {"nodes": [node.to_json() for node in ads.nodes.values()]}

    return app
