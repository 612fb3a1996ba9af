"""Keeps the route table current from a watch of Sandbox objects (list, then watch; no polling).

After any error (an expired resourceVersion, a dropped connection, the API server restarting)
it lists again and replaces the whole table, so deletions missed while away are not kept.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_global_resource

from sandboxmesh.routing import table
from sandboxmesh.routing.metrics import RouteServerMetrics
from sandboxmesh.routing.state import RouteState
from sandboxmesh.spec import crd

log = logging.getLogger(__name__)

Sandbox = create_global_resource(crd.GROUP, crd.VERSION, crd.KIND, crd.PLURAL)

RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 10.0


def _named(obj: Any) -> tuple[str, dict[str, Any]]:
    """A watched object as (name, the JSON dict the API server sent)."""
    raw: dict[str, Any] = obj.to_dict()
    return str(raw["metadata"]["name"]), raw


class SandboxWatcher:
    def __init__(self, client: AsyncClient, state: RouteState, metrics: RouteServerMetrics) -> None:
        self.client = client
        self.state = state
        self.metrics = metrics
        self._objects: dict[str, dict[str, Any]] = {}

    def _publish(self) -> None:
        views = []
        invalid = 0
        for obj in self._objects.values():
            try:
                views.append(table.sandbox_view(obj))
            except table.InvalidSandbox as error:
                invalid += 1
                log.warning("routes: %s", error)
        new = table.route_table_for(views)
        self.metrics.invalid_sandboxes.set(invalid)
        if new != self.state.table or not self.state.synced:
            for conflict in new.conflicts:
                if conflict not in self.state.table.conflicts:
                    log.warning("routes: %s", conflict)
            self.metrics.table_updates.inc()
            self.metrics.routes.set(new.route_count())
            self.metrics.route_conflicts.set(len(new.conflicts))
            self.state.set_table(new, synced=True)

    async def run(self) -> None:
        """Watch until cancelled."""
        delay = RETRY_MIN_SECONDS
        while True:
            try:
                await self._list_and_watch()
            except (ApiError, httpx.HTTPError) as error:
                self.metrics.watch_restarts.inc()
                log.warning(
                    "routes: Sandbox watch failed (%s); listing again in %.1fs", error, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            else:
                delay = RETRY_MIN_SECONDS

    async def _list_and_watch(self) -> None:
        listing = self.client.list(Sandbox)
        objects = {}
        async for obj in listing:
            name, raw = _named(obj)
            objects[name] = raw
        self._objects = objects
        self._publish()
        log.info("routes: listed %d Sandbox objects", len(objects))
        async for event, obj in self.client.watch(
            Sandbox, resource_version=listing.resourceVersion
        ):
            self.metrics.watch_events.labels(event.lower()).inc()
            name, raw = _named(obj)
            if event == "DELETED":
                self._objects.pop(name, None)
            elif event in ("ADDED", "MODIFIED"):
                self._objects[name] = raw
            else:
                continue
            self._publish()
