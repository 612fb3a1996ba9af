"""`install(app)`: the portal's routes, its static files, its error pages and its headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandboxmesh.controlplane.portal import error_pages
from sandboxmesh.controlplane.portal.context import PREFIX, verify_csrf
from sandboxmesh.controlplane.portal.routes import (
    accounts,
    clusters,
    people,
    policies,
    previews,
    quotas,
    route_groups,
    sandboxes,
    tokens,
    traces,
    usage,
)

STATIC = Path(__file__).parent / "static"

# Every asset is served by the app itself: nothing from another origin, no inline script or
# style (htmx is configured not to inject its own style, see base.html).
_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
_HEADERS = [
    (b"content-security-policy", _CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class PortalHeaders:
    """Security headers on every portal response; pages are private, so never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith(PREFIX + "/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(verify_csrf)])
    for module in (
        accounts,
        sandboxes,
        traces,
        route_groups,
        clusters,
        people,
        quotas,
        policies,
        usage,
        tokens,
        previews,
    ):
        router.include_router(module.router)
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="portal-static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    error_pages.install(app)
    app.add_middleware(PortalHeaders)
