"""Route traces: ask a sandbox's cluster for the hops of a traced request, and read them.

The API (`/api/v1/sandboxes/{name}/traces`) and the portal's sandbox and trace pages call
these. Whoever may read a sandbox may trace it (`domain.roles.may_trace_sandboxes`); a
sandbox of another organisation is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import traces as rules
from sandboxmesh.controlplane.repository.records import RouteTrace
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.usecases import authorization
from sandboxmesh.spec.api.traces import TraceState
from sandboxmesh.spec.protocol import TraceHop


@dataclass(frozen=True)
class Trace:
    """A stored trace with its state as of the unit of work's clock, and its hops parsed."""

    record: RouteTrace
    state: TraceState
    hops: list[TraceHop]


def _trace(record: RouteTrace, now: datetime) -> Trace:
    return Trace(
        record=record,
        state=rules.state(created_at=record.created_at, answered_at=record.answered_at, now=now),
        hops=[TraceHop.model_validate(hop) for hop in record.hops or []],
    )


async def request_trace(org: OrgScope, sandbox_name: str, trace_id: str) -> Trace:
    """Ask the sandbox's cluster for the hops of `trace_id`. Refusals, in this order: 404 no
    such sandbox (in the caller's organisation), 403 not the caller's to trace, 409 the
    sandbox is being deleted, 409 the trace id already asked for on that cluster, 429 too
    many of that cluster's requests pending."""
    sandbox = await org.sandboxes.get(sandbox_name)
    authorization.require_trace(org.principal)
    if sandbox.deleting:
        raise errors.Conflict(
            f"sandbox {sandbox_name!r} is being deleted", details={"sandbox": sandbox_name}
        )
    return _trace(await org.traces.create(sandbox, trace_id), org.tx.now)


async def get_trace(org: OrgScope, sandbox_name: str, trace_id: str) -> Trace:
    """The trace `trace_id` of the sandbox: 404 when the sandbox, or that trace of it, is
    not the caller's organisation's."""
    authorization.require_trace(org.principal)
    return _trace(await org.traces.get(sandbox_name, trace_id), org.tx.now)


async def recent_traces(org: OrgScope, sandbox_name: str, *, limit: int = 10) -> list[Trace]:
    """The sandbox's most recent traces first (404 when there is no such sandbox)."""
    await org.sandboxes.get(sandbox_name)
    authorization.require_trace(org.principal)
    return [_trace(r, org.tx.now) for r in await org.traces.recent(sandbox_name, limit=limit)]
