"""The two loops of the agent.

- `AssignmentPoller`: long-polls the control plane, applies Sandbox objects, deletes those
  whose intent is deleted, and on a resync (revision 0, i.e. every start) prunes the objects
  no longer assigned; RouteGroup objects alike (their deletion needs no confirmation). A
  cluster without the RouteGroup CRD (a chart upgraded by Helm, which installs new CRDs only
  on install) gets its sandboxes all the same, and one error line a batch saying so. The
  preview keys every batch carries go to their ConfigMap when they changed
  (preview_keys.py).
- `StatusWatcher`: lists then watches the agent's Sandbox objects (the shared
  `kube.list_then_watch`), and hands every status change and every disappearance to the
  reporter. A re-list after a broken watch reports objects that vanished meanwhile as gone,
  so no deletion goes unconfirmed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, NoReturn

from sandboxmesh import kube
from sandboxmesh.agent.metrics import AgentMetrics
from sandboxmesh.agent.objects import (
    route_group_object,
    sandbox_object,
    status_report,
    to_prune,
)
from sandboxmesh.agent.preview_keys import PreviewKeysWriter
from sandboxmesh.agent.reporter import StatusReporter
from sandboxmesh.agent.session import ControlPlaneSession
from sandboxmesh.agent.store import RouteGroupStore, SandboxStore
from sandboxmesh.agent.traces import TraceRelay
from sandboxmesh.backoff import Backoff
from sandboxmesh.client import endpoints, errors
from sandboxmesh.spec.protocol import (
    FEATURE_PREVIEW_KEYS,
    FEATURE_ROUTE_GROUPS,
    FEATURE_TRACES,
    AssignmentBatch,
    RouteGroupAssignment,
    SandboxStatusReport,
)

log = logging.getLogger(__name__)

_POLL_ERRORS: tuple[type[Exception], ...] = (errors.ClientError, *kube.CLIENT_ERRORS)


class AssignmentPoller:
    def __init__(
        self,
        session: ControlPlaneSession,
        store: SandboxStore,
        reporter: StatusReporter,
        metrics: AgentMetrics,
        *,
        wait: float,
        backoff: Backoff,
        traces: TraceRelay | None = None,
        route_groups: RouteGroupStore | None = None,
        preview_keys: PreviewKeysWriter | None = None,
    ) -> None:
        self.session = session
        self.store = store
        self.reporter = reporter
        self.metrics = metrics
        self.wait = wait
        self.backoff = backoff
        #: Relays the batches' trace requests; None: the agent does not ask for them.
        self.traces = traces
        #: Where route groups go; None: the agent does not ask for them.
        self.route_groups = route_groups
        #: Writes the preview keys' ConfigMap; None: the agent does not ask for them.
        self.preview_keys = preview_keys
        wanted = {
            FEATURE_TRACES: traces,
            FEATURE_ROUTE_GROUPS: route_groups,
            FEATURE_PREVIEW_KEYS: preview_keys,
        }
        self.features = tuple(name for name, handler in wanted.items() if handler is not None)
        self.revision = 0
        #: Set after the first batch is applied: the cluster matches the control plane.
        self.synced = asyncio.Event()

    async def run(self) -> None:
        failing = False
        while True:
            try:
                batch = await self.session.send(
                    endpoints.assignments(self.revision, wait=self.wait, features=self.features)
                )
                await self.apply(batch)
            except _POLL_ERRORS as error:
                self.metrics.polls.labels(result="error").inc()
                delay = self.backoff.next_delay()
                # One warning when failures start, then quieter lines until it recovers.
                level = logging.DEBUG if failing else logging.WARNING
                log.log(level, "syncing assignments failed (%s); retrying in %.1fs", error, delay)
                failing = True
                await asyncio.sleep(delay)
                continue
            if failing:
                log.info("syncing assignments recovered at revision %d", self.revision)
                failing = False
            self.backoff.reset()

    async def apply(self, batch: AssignmentBatch) -> None:
        if self.traces is not None and batch.trace_requests:
            # First: a user waits on these, and applying the assignments may take a while.
            self.traces.offer(r.trace_id for r in batch.trace_requests)
        for assignment in batch.assignments:
            if assignment.deleting:
                if await self.store.delete(assignment.name):
                    self.metrics.deleted.labels(cause="deleted").inc()
                else:
                    self.reporter.gone(assignment.name)  # nothing to wait for
            else:
                await self.store.apply(sandbox_object(assignment))
                self.metrics.applied.inc()
        if batch.resync:
            held = await self.store.list_held()
            names = [body["metadata"]["name"] for body in held]
            for name in sorted(to_prune((a.name for a in batch.assignments), names)):
                log.info("pruning Sandbox %s: no longer assigned to this cluster", name)
                await self.store.delete(name)
                self.metrics.deleted.labels(cause="pruned").inc()
        if self.route_groups is not None and batch.route_groups is not None:
            await self._apply_route_groups(self.route_groups, batch.route_groups, batch.resync)
        if self.preview_keys is not None and batch.preview_keys is not None:
            await self.preview_keys.write(batch.preview_keys)
        self.metrics.polls.labels(result="resync" if batch.resync else "changes").inc()
        if batch.assignments or batch.resync:
            log.info(
                "applied %d assignments (revision %d -> %d%s)",
                len(batch.assignments),
                self.revision,
                batch.revision,
                ", resync" if batch.resync else "",
            )
        self.revision = batch.revision
        self.metrics.revision.set(batch.revision)
        self.synced.set()

    async def _apply_route_groups(
        self, store: RouteGroupStore, groups: list[RouteGroupAssignment], resync: bool
    ) -> None:
        try:
            for group in groups:
                if group.deleting:
                    await store.delete(group.name)
                else:
                    await store.apply(route_group_object(group))
            if resync:
                held = [body["metadata"]["name"] for body in await store.list_held()]
                for name in sorted(to_prune((g.name for g in groups), held)):
                    log.info("pruning RouteGroup %s: no longer assigned to this cluster", name)
                    await store.delete(name)
        except kube.CLIENT_ERRORS as error:
            if not kube.errors.is_not_found(error):
                raise
            # The resource itself is unknown (an apply creates a missing object): no CRD.
            log.error(
                "route groups not applied: the cluster has no RouteGroup CRD "
                "(kubectl apply -f deploy/crds/routegroups.sandboxmesh.io.yaml)"
            )
        if groups or resync:
            log.info("applied %d route groups%s", len(groups), ", resync" if resync else "")


class StatusWatcher:
    def __init__(
        self, store: SandboxStore, reporter: StatusReporter, *, settings: kube.ListWatchSettings
    ) -> None:
        self.store = store
        self.reporter = reporter
        self.settings = settings
        self._held: set[str] = set()
        self._last: dict[str, SandboxStatusReport] = {}

    async def run(self) -> NoReturn:
        """Watch until cancelled; an error of its own (a bug) ends it with that error."""
        await kube.list_then_watch(
            self.store.client, self.store.held, self._listed, self._changed, settings=self.settings
        )

    def _listed(self, bodies: list[dict[str, Any]]) -> None:
        listed = {body["metadata"]["name"] for body in bodies}
        # Gone while the watch was away: their deletion is confirmed all the same.
        for name in self._held - listed:
            self._vanished(name)
        self._held = listed
        for body in bodies:
            self._observe(body)

    def _changed(self, event: str, body: dict[str, Any]) -> None:
        if event == "DELETED":
            self._vanished(body["metadata"]["name"])
        elif event in ("ADDED", "MODIFIED"):
            self._held.add(body["metadata"]["name"])
            self._observe(body)

    def _observe(self, body: dict[str, Any]) -> None:
        report = status_report(body)
        if report is not None and self._last.get(report.name) != report:
            self._last[report.name] = report
            self.reporter.report(report)

    def _vanished(self, name: str) -> None:
        self._held.discard(name)
        self._last.pop(name, None)
        self.reporter.gone(name)
