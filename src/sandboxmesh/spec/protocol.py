"""The agent protocol (docs/agent-protocol.md): the wire models between agent and control plane.

They live in the spec layer so the agent depends on them without importing the control plane.
Every call carries `Authorization: Bearer <cluster token>` and the agent's version in
`X-SandboxMesh-Agent-Version`.

- `GET  /api/v1/agent/assignments?since=R&wait=S` -> `AssignmentBatch`
- `POST /api/v1/agent/status` with `StatusReportBatch` -> `StatusAck`
- `POST /api/v1/agent/traces` with `TraceReport` -> `TraceAck`

Fields added within v1 are optional; the ones the control plane sends only to agents that ask
for them name their feature (`features=...` on the long-poll): `traceRequests` is `traces`'s,
`routeGroups` is `routegroups`'s, `previewKeys` is `previewkeys`'s.
"""

from __future__ import annotations

from pydantic import Field, StrictBool, StrictFloat, StrictInt, field_validator

from sandboxmesh.spec import names
from sandboxmesh.spec.crd import SandboxResourceSpec
from sandboxmesh.spec.model import SpecModel
from sandboxmesh.spec.preview import PreviewKeys
from sandboxmesh.spec.routegroup import RouteGroupResourceSpec
from sandboxmesh.spec.status import SandboxStatus, time_problem, times

ASSIGNMENTS_PATH = "/api/v1/agent/assignments"
STATUS_PATH = "/api/v1/agent/status"
TRACES_PATH = "/api/v1/agent/traces"
AGENT_VERSION_HEADER = "X-SandboxMesh-Agent-Version"
#: The most items one status batch may carry (reports and gone confirmations together).
MAX_BATCH = 500
#: The long-poll feature that asks for `traceRequests` in assignment batches.
FEATURE_TRACES = "traces"
#: The long-poll feature that asks for `routeGroups` in assignment batches.
FEATURE_ROUTE_GROUPS = "routegroups"
#: The long-poll feature that asks for `previewKeys` in assignment batches.
FEATURE_PREVIEW_KEYS = "previewkeys"
#: The most hops one trace report may carry (the route server keeps as many per trace).
MAX_TRACE_HOPS = 64


class Assignment(SpecModel):
    """One sandbox the agent should hold as a `Sandbox` object, or remove when `deleting`."""

    name: names.SandboxName
    #: Bumped by the control plane at every spec change: the agent reports it back as
    #: `observedGeneration` once the CR carries that spec.
    generation: StrictInt = Field(ge=1)
    #: The user deleted the sandbox (or its TTL ran out): remove the CR, then confirm `gone`.
    deleting: StrictBool = False
    #: What to write as the CR's `.spec`: the user's spec plus the issued routing key.
    spec: SandboxResourceSpec


class RouteGroupAssignment(SpecModel):
    """One route group the agent should hold as a `RouteGroup` object, or remove when
    `deleting` (no confirmation: the route server needs nothing removed first)."""

    name: names.SandboxName
    #: Bumped by the control plane at every spec change.
    generation: StrictInt = Field(ge=1)
    deleting: StrictBool = False
    #: What to write as the CR's `.spec`: the selector plus the issued routing key.
    spec: RouteGroupResourceSpec


class TraceRequest(SpecModel):
    """A user asked for the route trace `traceId`: read the route server's hops for it and
    post them back (`TraceReport`), an empty list when no router reported any."""

    trace_id: names.TraceId


class AssignmentBatch(SpecModel):
    """The answer to a long-poll.

    `revision` is the cluster's revision the batch brings the agent to: pass it as `since`
    next time. With `resync` true, `assignments` is the complete set: anything the agent holds
    that is not in it is no longer assigned and should be pruned. Otherwise it holds only the
    sandboxes changed since the revision the agent passed; empty when the wait ran out.
    """

    revision: StrictInt = Field(ge=0)
    resync: StrictBool
    assignments: list[Assignment] = Field(default_factory=list)
    #: Only for agents that poll with `features=traces`, and then always present: the trace
    #: requests made since the revision the agent passed (all pending ones on a resync).
    #: Absent from the wire otherwise, so that agents that do not know the field (strict
    #: parsing) never see it.
    trace_requests: list[TraceRequest] | None = None
    #: Only for agents that poll with `features=routegroups`, and then always present: the
    #: cluster's route groups changed since the revision the agent passed (deleted ones with
    #: `deleting`), or on a resync all of them, the complete set (prune the others). Absent
    #: from the wire otherwise.
    route_groups: list[RouteGroupAssignment] | None = None
    #: Only for agents that poll with `features=previewkeys`, and then on every batch (it is
    #: small): the preview tokens' issuer, the authorize page and the public keys, for the
    #: agent to write into the ConfigMap `spec.preview.PREVIEW_KEYS_CONFIGMAP` when they
    #: changed. A key rotation bumps no revision: agents get it with their next batch.
    #: Absent from the wire otherwise.
    preview_keys: PreviewKeys | None = None


class SandboxStatusReport(SpecModel):
    """The status of one Sandbox CR as the cluster sees it."""

    name: names.SandboxName
    #: The control-plane generation the CR's spec corresponds to.
    observed_generation: StrictInt = Field(ge=1)
    #: Its times name their offset and are times in UTC as well (`time_problem`).
    status: SandboxStatus

    @field_validator("status", mode="after")
    @classmethod
    def _times_in_range(cls, reported: SandboxStatus) -> SandboxStatus:
        # Checked here, where a status arrives, rather than on SandboxStatus itself: statuses
        # already stored or on a CR are still read (and shown as well as they can be).
        for where, moment in times(reported):
            problem = time_problem(moment)
            if problem is not None:
                raise ValueError(f"{where} {problem}")
        return reported


class GoneConfirmation(SpecModel):
    """The agent removed the Sandbox CR of a sandbox that was assigned with `deleting`."""

    name: names.SandboxName


class StatusReportBatch(SpecModel):
    reports: list[SandboxStatusReport] = Field(default_factory=list, max_length=MAX_BATCH)
    gone: list[GoneConfirmation] = Field(default_factory=list, max_length=MAX_BATCH)


class IgnoredReport(SpecModel):
    name: str
    #: `unknown` (no such sandbox on this cluster), `stale` (an older generation than the
    #: last report, or a future one) or `not_deleting` (a gone confirmation for a live sandbox).
    reason: str


class StatusAck(SpecModel):
    accepted: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    ignored: list[IgnoredReport] = Field(default_factory=list)


class TraceHop(SpecModel):
    """One router's decision for a traced request, as the route server worked it out."""

    #: When the router received the request (seconds since the epoch).
    at: StrictFloat = Field(ge=0, allow_inf_nan=False)
    #: The Service whose router decided, as `namespace/name`.
    service: str = Field(min_length=1, max_length=254)
    #: The router (its Envoy node id).
    router: str = Field(max_length=253)
    #: `baseline`, or the name of the sandbox whose fork served the request.
    decision: str = Field(min_length=1, max_length=63)
    #: Why, in words (route traces print it as is).
    reason: str = Field(max_length=512)
    #: The routing key the request carried at this hop; None: none.
    key: str | None = Field(default=None, max_length=256)


class TraceReport(SpecModel):
    """The hops of a requested trace, in the order the request passed them."""

    trace_id: names.TraceId
    hops: list[TraceHop] = Field(default_factory=list, max_length=MAX_TRACE_HOPS)


class TraceAck(SpecModel):
    #: Whether the hops were stored; when not, `ignored` says why: `unknown` (no such
    #: request for this cluster) or `answered` (already answered).
    stored: StrictBool
    ignored: str | None = None
