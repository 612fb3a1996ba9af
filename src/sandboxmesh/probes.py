"""/healthz, /readyz and /metrics over HTTP (aiohttp, which kopf already depends on).

Live while the event loop answers; ready once this replica leads and kopf has started, so a
standby replica is live but not ready.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sandboxmesh.operator.metrics import OperatorMetrics
from sandboxmesh.operator.settings import ProbeSettings


class ProbeServer:
    def __init__(self, settings: ProbeSettings, metrics: OperatorMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.ready = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if not self.settings.port:
            return
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.settings.host, self.settings.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        if self.ready.is_set():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "standby"}, status=503)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
