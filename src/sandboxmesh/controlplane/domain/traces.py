"""Route traces: how long a request waits for its answer, how many may wait, how long kept."""

from __future__ import annotations

from datetime import datetime, timedelta

from sandboxmesh.spec.api.traces import TraceState

#: A request not answered within this is expired: agents are told of it only meanwhile.
ANSWER_WITHIN = timedelta(seconds=60)
#: Requests kept (answered or not) before the sweeper prunes them.
KEEP = timedelta(hours=1)
#: Requests waiting for their answer at once, per cluster: beyond, new ones are refused (429).
MAX_PENDING_PER_CLUSTER = 20


def state(*, created_at: datetime, answered_at: datetime | None, now: datetime) -> TraceState:
    if answered_at is not None:
        return TraceState.ANSWERED
    if now - created_at >= ANSWER_WITHIN:
        return TraceState.EXPIRED
    return TraceState.PENDING


def pending_since(now: datetime) -> datetime:
    """Requests created after this, and not answered, are still pending at `now`."""
    return now - ANSWER_WITHIN
