"""Keeps the route table current from a watch of Sandbox objects (list, then watch; no polling).

The loop is the shared `kube.list_then_watch`: after any failure of the API (an expired
resourceVersion, a dropped connection, the API server restarting) and at each periodic resync
it lists again and replaces the whole table, so deletions missed while away are not kept.
An error of its own (a bug) ends `run` with that error, for the route server's supervisor.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from lightkube import AsyncClient

from sandboxmesh import kube
from sandboxmesh.routing.core import table
from sandboxmesh.routing.metrics import RouteServerMetrics
from sandboxmesh.routing.state import RouteState

log = logging.getLogger(__name__)


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

    async def run(self) -> NoReturn:
        """Watch until cancelled."""
        await kube.list_then_watch(
            self.client,
            kube.Selection(kube.Sandbox),
            self._listed,
            self._changed,
            on_failure=lambda _: self.metrics.watch_restarts.inc(),
        )

    def _listed(self, objects: list[dict[str, Any]]) -> None:
        self._objects = {str(raw["metadata"]["name"]): raw for raw in objects}
        self._publish()
        log.info("routes: listed %d Sandbox objects", len(objects))

    def _changed(self, event: str, raw: dict[str, Any]) -> None:
        self.metrics.watch_events.labels(event.lower()).inc()
        name = str(raw["metadata"]["name"])
        if event == "DELETED":
            self._objects.pop(name, None)
        elif event in ("ADDED", "MODIFIED"):
            self._objects[name] = raw
        else:
            return
        self._publish()
