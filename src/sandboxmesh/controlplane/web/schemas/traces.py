"""Route traces as the API shows them, built from the use cases' answers."""

from __future__ import annotations

from sandboxmesh.controlplane.usecases.traces import Trace
from sandboxmesh.spec.api.traces import TraceCreate, TraceList, TracePublic

__all__ = ["TraceCreate", "TraceList", "TracePublic", "trace_public"]


def trace_public(trace: Trace) -> TracePublic:
    record = trace.record
    return TracePublic(
        trace_id=record.trace_id,
        sandbox=record.sandbox,
        cluster=record.cluster,
        state=trace.state,
        requested_by=record.requested_by,
        created_at=record.created_at,
        answered_at=record.answered_at,
        hops=trace.hops,
    )
