"""Keeps the route table current from watches of Sandbox and RouteGroup objects (list, then
watch; no polling), and writes each RouteGroup's status.

The loops are the shared `kube.list_then_watch`: after any failure of the API (an expired
resourceVersion, a dropped connection, the API server restarting) and at each periodic resync
they list again and replace what they hold, so deletions missed while away are not kept.
An error of their own (a bug) ends `run`/`run_groups`/`run_status` with that error, for the
route server's supervisor.

The table is synced (readiness) once Sandbox objects are listed. Route groups join it once
they are listed too; until then (or without the RouteGroup CRD, whose list keeps failing and
retrying) the table holds the sandboxes' own routes alone.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, NoReturn

import pydantic
from lightkube import AsyncClient
from lightkube.types import PatchType

from sandboxmesh import kube
from sandboxmesh.backoff import Backoff
from sandboxmesh.routing.core import gateway, groups, table
from sandboxmesh.routing.metrics import RouteServerMetrics
from sandboxmesh.routing.state import RouteState
from sandboxmesh.spec.routegroup import RouteGroupStatus

log = logging.getLogger(__name__)


class SandboxWatcher:
    def __init__(self, client: AsyncClient, state: RouteState, metrics: RouteServerMetrics) -> None:
        self.client = client
        self.state = state
        self.metrics = metrics
        self._objects: dict[str, dict[str, Any]] = {}
        self._groups: dict[str, dict[str, Any]] = {}
        self._sandboxes_listed = False
        self._views: list[table.SandboxView] = []
        self._group_views: dict[str, groups.RouteGroupView] = {}
        #: Set when the inputs of a RouteGroup's status may have changed.
        self._status_due = asyncio.Event()

    def _publish(self) -> None:
        views = []
        invalid = 0
        for obj in self._objects.values():
            try:
                views.append(table.sandbox_view(obj))
            except table.InvalidSandbox as error:
                invalid += 1
                log.warning("routes: %s", error)
        group_views = {}
        for name, obj in self._groups.items():
            try:
                group_views[name] = groups.route_group_view(obj)
            except groups.InvalidRouteGroup as error:
                log.warning("routes: %s", error)
        self._views, self._group_views = views, group_views
        new = groups.route_table_for(views, group_views.values())
        previews = gateway.preview_hosts(views, group_views.values())
        self.metrics.invalid_sandboxes.set(invalid)
        self._status_due.set()
        if not self._sandboxes_listed:
            return
        if previews != self.state.previews:
            self.metrics.preview_hosts.set(len(previews))
        if new != self.state.table or not self.state.synced or previews != self.state.previews:
            for conflict in new.conflicts:
                if conflict not in self.state.table.conflicts:
                    log.warning("routes: %s", conflict)
            self.metrics.table_updates.inc()
            self.metrics.routes.set(new.route_count())
            self.metrics.route_conflicts.set(len(new.conflicts))
            self.metrics.route_group_conflicts.set(len(new.group_conflicts))
            self.state.set_table(new, synced=True, previews=previews)

    async def run(self) -> NoReturn:
        """Watch Sandbox objects until cancelled."""
        await kube.list_then_watch(
            self.client,
            kube.Selection(kube.Sandbox),
            self._listed,
            self._changed,
            on_failure=lambda _: self.metrics.watch_restarts.inc(),
        )

    async def run_groups(self) -> NoReturn:
        """Watch RouteGroup objects until cancelled."""
        await kube.list_then_watch(
            self.client,
            kube.Selection(kube.RouteGroup),
            self._groups_listed,
            self._group_changed,
            on_failure=lambda _: self.metrics.watch_restarts.inc(),
        )

    def _listed(self, objects: list[dict[str, Any]]) -> None:
        self._objects = {str(raw["metadata"]["name"]): raw for raw in objects}
        self._sandboxes_listed = True
        self._publish()
        log.info("routes: listed %d Sandbox objects", len(objects))

    def _changed(self, event: str, raw: dict[str, Any]) -> None:
        self.metrics.watch_events.labels(event.lower()).inc()
        if _apply_event(self._objects, event, raw):
            self._publish()

    def _groups_listed(self, objects: list[dict[str, Any]]) -> None:
        self._groups = {str(raw["metadata"]["name"]): raw for raw in objects}
        self._publish()
        log.info("routes: listed %d RouteGroup objects", len(objects))

    def _group_changed(self, event: str, raw: dict[str, Any]) -> None:
        self.metrics.watch_events.labels(event.lower()).inc()
        if _apply_event(self._groups, event, raw):
            self._publish()

    async def run_status(self, *, retry_max_seconds: float = 10.0) -> NoReturn:
        """Write each RouteGroup's status (members, conflicts, the Conflict condition) when
        it differs from what the object holds, until cancelled. A failed write is retried
        after a backoff; a group deleted meanwhile is simply skipped."""
        backoff = Backoff(0.2, retry_max_seconds)
        while True:
            await self._status_due.wait()
            self._status_due.clear()
            if not self._sandboxes_listed:
                continue  # members from a partial picture would be wrong
            try:
                await self._write_statuses()
                backoff.reset()
            except kube.KubeError as error:
                delay = backoff.next_delay()
                log.warning(
                    "routes: writing a RouteGroup status failed (%s); retry in %.1fs", error, delay
                )
                self._status_due.set()
                await asyncio.sleep(delay)

    async def _write_statuses(self) -> None:
        now = datetime.now(UTC)
        for name, view in sorted(self._group_views.items()):
            raw = self._groups.get(name)
            if raw is None or view.deleting:
                continue
            try:
                current = RouteGroupStatus.model_validate(raw.get("status") or {})
            except pydantic.ValidationError:
                current = RouteGroupStatus()
            desired = groups.group_status(
                view,
                self._views,
                self.state.table.group_conflicts,
                previous=current.conditions,
                now=now,
            )
            if desired == current:
                continue
            body = desired.model_dump(mode="json", by_alias=True, exclude_none=True)
            try:
                with kube.errors.translated():
                    await self.client.patch(
                        kube.RouteGroup.Status,
                        name,
                        {"status": body},
                        patch_type=PatchType.MERGE,
                    )
            except kube.KubeApiError as error:
                if error.code == 404:
                    continue  # deleted meanwhile: its DELETED event follows
                raise
            log.info(
                "routes: route group %s: %d members, %d conflicts",
                name,
                len(desired.members),
                len(desired.conflicts),
            )


def _apply_event(objects: dict[str, dict[str, Any]], event: str, raw: dict[str, Any]) -> bool:
    """Apply one watch event to `objects` by name; whether anything changed."""
    name = str(raw["metadata"]["name"])
    if event == "DELETED":
        objects.pop(name, None)
    elif event in ("ADDED", "MODIFIED"):
        objects[name] = raw
    else:
        return False
    return True
