"""Route traces as the API shows them: one traced request of a sandbox, and its hops.

A user (the CLI's `route trace`) asks for a trace id before sending the traced request; the
cluster's agent reads the route server's hops for it and reports them back, so the answer
travels from the cluster to the control plane, never the other way.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sandboxmesh.spec import names
from sandboxmesh.spec.api.base import ApiModel, ApiRequest
from sandboxmesh.spec.protocol import TraceHop


class TraceState(StrEnum):
    #: Asked for; the agent has not reported the hops yet.
    PENDING = "pending"
    #: The agent reported the hops (possibly none: no router saw the request).
    ANSWERED = "answered"
    #: No answer came in time (no agent polling, or one that does not relay traces).
    EXPIRED = "expired"


class TraceCreate(ApiRequest):
    #: The 32 lowercase hex digits of the traced request's `traceparent`.
    trace_id: names.TraceId


class TracePublic(ApiModel):
    trace_id: str
    sandbox: str
    cluster: str
    state: TraceState
    requested_by: str
    created_at: datetime
    answered_at: datetime | None
    #: In the order the request passed them; empty until answered.
    hops: list[TraceHop]


class TraceList(ApiModel):
    #: The sandbox's most recent traces first.
    items: list[TracePublic]
