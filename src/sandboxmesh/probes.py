"""/healthz, /readyz and /metrics over HTTP for the in-cluster processes (operator, agent).

aiohttp, which kopf already depends on. Live while the event loop answers; ready while the
owner sets `ready` (the operator: once it leads and kopf runs; the agent: while it syncs)
and until `fail` (one of the process's long-running tasks ended: no `ready` undoes it).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class ProbeServer:
    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self.host = host
        #: 0 disables the server.
        self.port = port
        self.registry = registry
        self.ready = asyncio.Event()
        #: Why the process is not ready, shown by /readyz.
        self.not_ready_reason = "starting"
        #: Set by `fail`: why the process is not ready for good.
        self.failure: str | None = None
        self._runner: web.AppRunner | None = None

    def fail(self, reason: str) -> None:
        """Not ready from now on, saying why (a supervisor's `on_failure`)."""
        self.failure = reason
        self.ready.clear()

    async def start(self) -> None:
        if not self.port:
            return
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        if self.failure is not None:
            return web.json_response({"status": "failed", "reason": self.failure}, status=503)
        if self.ready.is_set():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": self.not_ready_reason}, status=503)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
