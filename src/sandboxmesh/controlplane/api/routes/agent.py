"""The agent protocol (docs/agent-protocol.md): long-poll for assignments, report status.

The long-poll holds no database connection while it waits: it reads, waits on the revision
hub, then, in a fresh transaction, checks that its token still opens the API and reads again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.api.deps import AgentScope, agent_from_request
from sandboxmesh.controlplane.api.schemas.base import ERROR_RESPONSES
from sandboxmesh.controlplane.repository import clusters
from sandboxmesh.controlplane.repository.assignments import Changes, ClusterScope
from sandboxmesh.controlplane.repository.records import RouteGroup, Sandbox
from sandboxmesh.controlplane.usecases import previews
from sandboxmesh.controlplane.web.dependencies import RuntimeDep
from sandboxmesh.spec.crd import SandboxResourceSpec
from sandboxmesh.spec.preview import PreviewKeys
from sandboxmesh.spec.protocol import (
    ASSIGNMENTS_PATH,
    FEATURE_PREVIEW_KEYS,
    FEATURE_ROUTE_GROUPS,
    FEATURE_TRACES,
    STATUS_PATH,
    TRACES_PATH,
    Assignment,
    AssignmentBatch,
    RouteGroupAssignment,
    StatusAck,
    StatusReportBatch,
    TraceAck,
    TraceReport,
    TraceRequest,
)
from sandboxmesh.spec.routegroup import RouteGroupResourceSpec

router = APIRouter(tags=["agent"], responses=ERROR_RESPONSES)


def assignment(sandbox: Sandbox) -> Assignment:
    return Assignment(
        name=sandbox.name,
        generation=sandbox.generation,
        deleting=sandbox.deleting,
        spec=SandboxResourceSpec.model_validate(
            {**sandbox.spec, "routingKey": sandbox.routing_key}
        ),
    )


def route_group_assignment(group: RouteGroup) -> RouteGroupAssignment:
    spec = group.spec
    return RouteGroupAssignment(
        name=group.name,
        generation=group.generation,
        deleting=group.deleting,
        spec=RouteGroupResourceSpec.model_validate(
            {
                "description": spec.get("description", ""),
                "selector": spec["selector"],
                "routingKey": group.routing_key,
            }
        ),
    )


_OPTIONAL_FIELDS = ("trace_requests", "route_groups", "preview_keys")


def _batch(changes: Changes, preview_keys: PreviewKeys | None) -> Response:
    batch = AssignmentBatch(
        revision=changes.revision,
        resync=changes.resync,
        assignments=[assignment(s) for s in changes.sandboxes],
        trace_requests=None
        if changes.trace_requests is None
        else [TraceRequest(trace_id=t) for t in changes.trace_requests],
        route_groups=None
        if changes.route_groups is None
        else [route_group_assignment(g) for g in changes.route_groups],
        preview_keys=preview_keys,
    )
    # Serialised here rather than by FastAPI: a field an agent did not ask for is left out
    # of the wire entirely (an older agent parses strictly and would refuse even a null).
    left_out = {field for field in _OPTIONAL_FIELDS if getattr(batch, field) is None} or None
    return Response(
        batch.model_dump_json(by_alias=True, exclude=left_out), media_type="application/json"
    )


@router.get(ASSIGNMENTS_PATH, response_model=AssignmentBatch)
async def assignments(
    request: Request,
    runtime: RuntimeDep,
    since: Annotated[int, Query(ge=0, le=2**62)] = 0,
    wait: Annotated[float, Query(ge=0, le=300)] = 30,
    features: Annotated[
        list[Annotated[str, Query(max_length=32)]],
        Query(
            max_length=8,
            description="what the agent understands beyond v1's first fields: "
            f"`{FEATURE_TRACES}` (traceRequests), `{FEATURE_ROUTE_GROUPS}` (routeGroups), "
            f"`{FEATURE_PREVIEW_KEYS}` (previewKeys); unknown ones are ignored",
        ),
    ] = [],  # noqa: B006 (FastAPI copies defaults per request)
) -> Response:
    """Assignments changed after revision `since` (all of them for 0), waiting up to `wait`
    seconds (capped by the server) for a change when there is none yet. With
    `features=traces`, the trace requests made since then too; with `features=routegroups`,
    the route groups changed since then; with `features=previewkeys`, on every batch, the
    keys that verify preview tokens."""
    wanted = {
        "traces_too": FEATURE_TRACES in features,
        "route_groups_too": FEATURE_ROUTE_GROUPS in features,
    }
    async with runtime.unit_of_work() as tx:
        agent = await agent_from_request(request, tx)
        changes = await ClusterScope(tx, agent).changes_since(since, **wanted)
    # Outside the unit of work: the keys may be created in one of their own.
    keys = await previews.keys_for_agents(runtime) if FEATURE_PREVIEW_KEYS in features else None
    if changes.any:
        return _batch(changes, keys)
    # Nothing yet: tell the hub what the store said, so a commit that lands between the read
    # above and the wait below still wakes us, then wait without holding a connection.
    runtime.hub.publish(agent.cluster_id, changes.revision)
    timeout = min(wait, runtime.settings.agent.long_poll_max_seconds)
    with runtime.metrics.long_polls.track_inprogress():
        changed = await runtime.hub.wait_beyond(agent.cluster_id, since, timeout)
    async with runtime.unit_of_work() as tx:
        # The token may have been revoked, or its rotation's grace have run out, while the
        # poll waited: what it learnt before the wait was fine to tell, nothing after it is.
        if not await clusters.token_is_live(tx, agent.token_id):
            raise errors.Unauthorized("invalid, expired or revoked cluster token")
        if not changed:
            return _batch(changes, keys)
        return _batch(await ClusterScope(tx, agent).changes_since(since, **wanted), keys)


@router.post(STATUS_PATH)
async def report_status(batch: StatusReportBatch, scope: AgentScope) -> StatusAck:
    """Status of the cluster's Sandbox objects, and confirmations that deleted ones are gone."""
    return await scope.report(batch)


@router.post(TRACES_PATH)
async def report_trace(report: TraceReport, scope: AgentScope) -> TraceAck:
    """The hops of a trace request this cluster was given; requests of other clusters, and
    unknown ones, are ignored (`unknown`), as are ones already answered (`answered`)."""
    return await scope.answer_trace(report)
