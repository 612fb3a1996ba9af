"""Pure ASGI middleware: a body size and time limit, NUL refused in URLs, and access logs plus
metrics per request."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.metrics import Metrics
from sandboxmesh.spec import text

access_log = logging.getLogger("sandboxmesh.access")
_LONG_POLL_ROUTES = {"/api/v1/agent/assignments"}


class BodyLimit:
    """413 for a body over `max_bytes`: early from Content-Length, else while it streams.
    408 for a body not all in `timeout_seconds` after the app first asks for it (a client
    trickling it in would otherwise hold its connection and its request as long as it likes);
    the connection is closed after that answer."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _send_error(send, self._too_large())
            return
        received = 0
        deadline: float | None = None
        complete = False

        async def limited() -> Message:
            nonlocal received, deadline, complete
            if complete:  # what follows the body (a disconnect) may come whenever it does
                return await receive()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.timeout_seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                # An HTTPException passes through FastAPI's body parsing untouched and
                # reaches the JSON error handler (as the 413 below does).
                raise HTTPException(
                    408, detail=self._too_slow().message, headers={"Connection": "close"}
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, detail=self._too_large().message)
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited, send)

    def _too_slow(self) -> errors.RequestTimeout:
        return errors.RequestTimeout(
            f"the request body did not arrive within {self.timeout_seconds:g} s"
        )

    def _too_large(self) -> errors.PayloadTooLarge:
        return errors.PayloadTooLarge(
            f"request body larger than {self.max_bytes} bytes", details={"max": self.max_bytes}
        )


class RefuseNul:
    """422 for a path or query string with a NUL character in it, before any route reads it
    (PostgreSQL cannot even be asked about such a name). Bodies are checked by their models."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
                await _send_error(send, errors.Invalid(f"the URL {text.NUL_REFUSED}"))
                return
        await self.app(scope, receive, send)


async def _send_error(send: Send, error: errors.ApiError) -> None:
    body = json.dumps(error.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Observe:
    """Counts and times every request and writes one structured access log line for it.

    Logs carry method, route, status and duration: never headers (tokens) or bodies.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            if route not in _LONG_POLL_ROUTES:
                self.metrics.latency.labels(method, route).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
