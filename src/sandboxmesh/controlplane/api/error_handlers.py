"""Every error leaves as JSON `{code, message, details}` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.metrics import Metrics
from sandboxmesh.controlplane.usecases import sandboxes

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(IntegrityError, _integrity_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


def response_headers(error: errors.ApiError) -> dict[str, str] | None:
    """The headers an error's status calls for (the API's and the portal's pages alike)."""
    if isinstance(error, errors.TooManyRequests):
        return {"Retry-After": str(error.retry_after)}
    if error.status == 401:
        return {"WWW-Authenticate": "Bearer"}
    return None


def _respond(error: errors.ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=response_headers(error))


async def _api_error(request: Request, error: errors.ApiError) -> JSONResponse:
    if isinstance(error, errors.QuotaExceeded | errors.MemberSandboxLimit | errors.TtlAboveMaximum):
        # Counted here, where every refusal ends: a create held for the commit of its
        # request's transaction is refused after its route returned.
        metrics: Metrics = request.app.state.runtime.metrics
        sandboxes.count_refusal(metrics, error)
    return _respond(error)


def field_errors(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors without the raw input (which may be large, or secret)."""
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in raw
    ]


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    raw = list(error.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        return _respond(errors.MalformedJson("the body is not valid JSON"))
    found = field_errors(raw)
    where = ".".join(str(p) for p in found[0]["loc"]) if found else ""
    summary = f"{where}: {found[0]['msg']}" if found else "invalid request"
    return _respond(errors.Invalid(summary, details={"errors": found}))


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(error.status_code, "http_error")
    message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
    return JSONResponse(
        {"code": code, "message": message, "details": {}},
        status_code=error.status_code,
        headers=getattr(error, "headers", None),
    )


async def _integrity_error(request: Request, error: IntegrityError) -> JSONResponse:
    # The repository checks for duplicates first; a unique constraint that still fires means a
    # concurrent request won the race (PostgreSQL only: SQLite serialises writers).
    return _respond(errors.Conflict("a concurrent request changed the same thing first; try again"))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"code": "internal", "message": "internal error", "details": {}}, status_code=500
    )
