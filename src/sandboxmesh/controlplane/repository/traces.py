"""Route traces: requests made by the caller's organisation, and the agents' side of them.

A request bumps its cluster's revision (the long-poll's wake-up, NOTIFY included on
PostgreSQL) and records that revision, so the agent learns of it exactly as of a sandbox
change. The cluster's row lock, taken by that bump before the pending requests are counted,
serialises the creates of one cluster: the limit holds under concurrency. It is the only row
this writer locks, so it cannot join a lock cycle (sandboxes.py's order).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import traces as rules
from sandboxmesh.controlplane.repository.clusters import bump_cluster_revision
from sandboxmesh.controlplane.repository.records import RouteTrace, StoredSandbox
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import clusters, route_traces, sandboxes
from sandboxmesh.spec.protocol import TraceAck, TraceReport

#: How many of a sandbox's traces `recent` lists at most.
MAX_RECENT = 50


class TooManyPendingTraces(errors.TooManyRequests):
    code = "too_many_pending_traces"


def _select() -> sa.Select[Any]:
    return (
        sa.select(
            route_traces,
            sandboxes.c.name.label("sandbox_name"),
            clusters.c.name.label("cluster_name"),
        )
        .join(sandboxes, sandboxes.c.id == route_traces.c.sandbox_id)
        .join(clusters, clusters.c.id == route_traces.c.cluster_id)
    )


def _trace_from(row: sa.RowMapping) -> RouteTrace:
    return RouteTrace(
        trace_id=row["trace_id"],
        sandbox=row["sandbox_name"],
        cluster=row["cluster_name"],
        requested_by=row["requested_by"],
        created_at=row["created_at"],
        answered_at=row["answered_at"],
        hops=row["hops"],
    )


class RouteTraces(Scoped):
    async def create(self, sandbox: StoredSandbox, trace_id: str) -> RouteTrace:
        """Ask `sandbox`'s cluster for the trace `trace_id`: 409 when that cluster already
        has a request for it, 429 when too many of its requests are still pending."""
        cluster_id = await self.tx.conn.scalar(
            sa.select(sandboxes.c.cluster_id).where(
                sandboxes.c.id == sandbox.id, sandboxes.c.org_id == self.org_id
            )
        )
        if cluster_id is None:
            raise errors.NotFound("sandbox", sandbox.name)
        revision = await bump_cluster_revision(self.tx, cluster_id)
        now = self.tx.now
        taken = await self.tx.conn.scalar(
            sa.select(route_traces.c.id).where(
                route_traces.c.cluster_id == cluster_id, route_traces.c.trace_id == trace_id
            )
        )
        if taken is not None:
            raise errors.Conflict(
                f"trace {trace_id} was already requested: make a fresh trace id",
                details={"traceId": trace_id},
            )
        pending = await self.tx.conn.scalar(
            sa.select(sa.func.count()).where(
                route_traces.c.cluster_id == cluster_id,
                route_traces.c.answered_at.is_(None),
                route_traces.c.created_at > rules.pending_since(now),
            )
        )
        if (pending or 0) >= rules.MAX_PENDING_PER_CLUSTER:
            raise TooManyPendingTraces(
                f"{pending} traces of cluster {sandbox.cluster!r} are waiting for their answer "
                f"(at most {rules.MAX_PENDING_PER_CLUSTER}): try again shortly",
                retry_after=rules.ANSWER_WITHIN.total_seconds() / 6,
            )
        await self.tx.conn.execute(
            route_traces.insert().values(
                org_id=self.org_id,
                cluster_id=cluster_id,
                sandbox_id=sandbox.id,
                trace_id=trace_id,
                revision=revision,
                requested_by=self.actor,
                created_at=now,
            )
        )
        return RouteTrace(
            trace_id=trace_id,
            sandbox=sandbox.name,
            cluster=sandbox.cluster,
            requested_by=self.actor,
            created_at=now,
            answered_at=None,
            hops=None,
        )

    async def get(self, sandbox: str, trace_id: str) -> RouteTrace:
        row = (
            (
                await self.tx.conn.execute(
                    _select().where(
                        route_traces.c.org_id == self.org_id,
                        sandboxes.c.name == sandbox,
                        route_traces.c.trace_id == trace_id,
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise errors.NotFound("trace", trace_id)
        return _trace_from(row)

    async def recent(self, sandbox: str, *, limit: int = 10) -> list[RouteTrace]:
        rows = await self.tx.conn.execute(
            _select()
            .where(route_traces.c.org_id == self.org_id, sandboxes.c.name == sandbox)
            .order_by(route_traces.c.created_at.desc(), route_traces.c.id.desc())
            .limit(min(limit, MAX_RECENT))
        )
        return [_trace_from(row) for row in rows.mappings()]


async def pending_for_cluster(
    tx: Tx, cluster_id: int, *, since: int | None
) -> list[tuple[int, str]]:
    """(revision, trace id) of the cluster's requests still waiting for an answer: those made
    after revision `since`, or all of them when `since` is None (a resync)."""
    query = sa.select(route_traces.c.revision, route_traces.c.trace_id).where(
        route_traces.c.cluster_id == cluster_id,
        route_traces.c.answered_at.is_(None),
        route_traces.c.created_at > rules.pending_since(tx.now),
    )
    if since is not None:
        query = query.where(route_traces.c.revision > since)
    rows = await tx.conn.execute(query.order_by(route_traces.c.revision))
    return [(int(row.revision), row.trace_id) for row in rows]


async def answer(tx: Tx, cluster_id: int, report: TraceReport) -> TraceAck:
    """Store the hops of the cluster's request `report.trace_id`; an unknown or already
    answered request is left as it is (the ack says which)."""
    updated = await tx.conn.execute(
        route_traces.update()
        .where(
            route_traces.c.cluster_id == cluster_id,
            route_traces.c.trace_id == report.trace_id,
            route_traces.c.answered_at.is_(None),
        )
        .values(
            answered_at=tx.now,
            hops=[hop.model_dump(mode="json", by_alias=True) for hop in report.hops],
        )
    )
    if updated.rowcount == 1:
        return TraceAck(stored=True)
    known = await tx.conn.scalar(
        sa.select(route_traces.c.id).where(
            route_traces.c.cluster_id == cluster_id, route_traces.c.trace_id == report.trace_id
        )
    )
    return TraceAck(stored=False, ignored="unknown" if known is None else "answered")


async def prune(tx: Tx, *, before: datetime) -> int:
    """Forget the requests made before `before`, answered or not; how many went."""
    removed = await tx.conn.execute(route_traces.delete().where(route_traces.c.created_at < before))
    return int(removed.rowcount or 0)
