"""`ClusterScope`: what an agent may reach, bound to its cluster (the agent protocol's store)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from sandboxmesh.controlplane.repository import audit, route_groups, traces
from sandboxmesh.controlplane.repository.records import AgentIdentity, RouteGroup, StoredSandbox
from sandboxmesh.controlplane.repository.sandboxes import sandbox_from, select_sandboxes
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import clusters, sandboxes
from sandboxmesh.spec import Phase
from sandboxmesh.spec.protocol import (
    IgnoredReport,
    StatusAck,
    StatusReportBatch,
    TraceAck,
    TraceReport,
)


@dataclass(frozen=True)
class Changes:
    revision: int
    resync: bool
    sandboxes: list[StoredSandbox]
    #: The trace ids of route-trace requests to relay; None: not asked for.
    trace_requests: list[str] | None = None
    #: The route groups changed (tombstones included); None: not asked for.
    route_groups: list[RouteGroup] | None = None

    @property
    def any(self) -> bool:
        """Whether there is anything to tell the agent now, rather than wait."""
        return (
            self.resync
            or bool(self.sandboxes)
            or bool(self.trace_requests)
            or bool(self.route_groups)
        )


class ClusterScope:
    def __init__(self, tx: Tx, agent: AgentIdentity) -> None:
        self.tx = tx
        self.agent = agent

    async def revision(self) -> int:
        value = await self.tx.conn.scalar(
            sa.select(clusters.c.revision).where(clusters.c.id == self.agent.cluster_id)
        )
        return int(value or 0)

    async def changes_since(
        self, since: int, *, traces_too: bool = False, route_groups_too: bool = False
    ) -> Changes:
        """Sandboxes changed after revision `since`; all of them when `since` is 0 or unknown.
        With `traces_too`, also the pending trace requests made after `since` (all pending
        ones on a resync). With `route_groups_too`, also the route groups changed after
        `since` (all of them on a resync); an agent polling from `since` has applied every
        deletion up to it, so those tombstones are forgotten (repository/route_groups.py).

        The cluster revision is read first: every change up to it is committed (revisions
        commit in order), so the answer never skips one; newer rows read afterwards only move
        the returned revision forward.
        """
        current = await self.revision()
        resync = since <= 0 or since > current
        query = select_sandboxes().where(sandboxes.c.cluster_id == self.agent.cluster_id)
        if not resync:
            query = query.where(sandboxes.c.revision > since)
        rows = (await self.tx.conn.execute(query.order_by(sandboxes.c.revision))).mappings()
        found = [sandbox_from(row) for row in rows]
        revision = max([current, *(s.revision for s in found)])
        requested: list[str] | None = None
        if traces_too:
            pending = await traces.pending_for_cluster(
                self.tx, self.agent.cluster_id, since=None if resync else since
            )
            revision = max([revision, *(at for at, _ in pending)])
            requested = [trace_id for _, trace_id in pending]
        groups: list[RouteGroup] | None = None
        if route_groups_too:
            if not resync:
                await route_groups.purge_told(self.tx, self.agent.cluster_id, since=since)
            groups = await route_groups.changed_on_cluster(
                self.tx, self.agent.cluster_id, since=None if resync else since
            )
            if resync:
                groups = [g for g in groups if not g.deleting]
            revision = max([revision, *(g.revision for g in groups)])
        return Changes(
            revision=revision,
            resync=resync,
            sandboxes=found,
            trace_requests=requested,
            route_groups=groups,
        )

    async def answer_trace(self, report: TraceReport) -> TraceAck:
        return await traces.answer(self.tx, self.agent.cluster_id, report)

    async def report(self, batch: StatusReportBatch) -> StatusAck:
        ack = StatusAck()
        for report in batch.reports:
            sandbox = await self._find(report.name)
            if sandbox is None:
                ack.ignored.append(IgnoredReport(name=report.name, reason="unknown"))
                continue
            if report.observed_generation > sandbox.generation:
                ack.ignored.append(IgnoredReport(name=report.name, reason="stale"))
                continue
            status = report.status.model_copy(
                update={
                    "routing_key": sandbox.routing_key,
                    "expires_at": sandbox.expires_at,
                    "observed_generation": report.observed_generation,
                    "phase": Phase.TERMINATING if sandbox.deleting else report.status.phase,
                }
            )
            updated = await self.tx.conn.execute(
                sandboxes.update()
                .where(
                    sandboxes.c.id == sandbox.id,
                    sa.or_(
                        sandboxes.c.observed_generation.is_(None),
                        sandboxes.c.observed_generation <= report.observed_generation,
                    ),
                )
                .values(
                    status=status.model_dump(mode="json", by_alias=True),
                    observed_generation=report.observed_generation,
                    phase=status.phase.value,
                )
            )
            if updated.rowcount == 1:
                ack.accepted.append(report.name)
            else:
                ack.ignored.append(IgnoredReport(name=report.name, reason="stale"))
        for gone in batch.gone:
            sandbox = await self._find(gone.name)
            if sandbox is None:
                ack.ignored.append(IgnoredReport(name=gone.name, reason="unknown"))
                continue
            removed = await self.tx.conn.execute(
                sandboxes.delete().where(sandboxes.c.id == sandbox.id, sandboxes.c.deleting)
            )
            if removed.rowcount != 1:
                ack.ignored.append(IgnoredReport(name=gone.name, reason="not_deleting"))
                continue
            ack.removed.append(gone.name)
            await audit.record(
                self.tx,
                org_id=self.agent.org_id,
                actor=self.agent.actor,
                action="sandbox.gone",
                target=f"sandbox/{gone.name}",
            )
        return ack

    async def _find(self, name: str) -> StoredSandbox | None:
        row = (
            (
                await self.tx.conn.execute(
                    select_sandboxes().where(
                        sandboxes.c.cluster_id == self.agent.cluster_id, sandboxes.c.name == name
                    )
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else sandbox_from(row)
