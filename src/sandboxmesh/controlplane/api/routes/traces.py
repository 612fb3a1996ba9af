"""Route traces of a sandbox: ask for one (before sending the traced request), read it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from sandboxmesh.controlplane.api.deps import OrgScope
from sandboxmesh.controlplane.api.schemas.base import ERROR_RESPONSES, ErrorBody
from sandboxmesh.controlplane.usecases import traces
from sandboxmesh.controlplane.web.paths import SandboxName
from sandboxmesh.controlplane.web.schemas.traces import (
    TraceCreate,
    TraceList,
    TracePublic,
    trace_public,
)
from sandboxmesh.spec import names

router = APIRouter(
    prefix="/api/v1/sandboxes/{name}/traces",
    tags=["traces"],
    responses={
        **ERROR_RESPONSES,
        429: {"model": ErrorBody, "description": "Too many traces of the cluster pending"},
    },
)

TraceIdPath = Annotated[str, Path(min_length=32, max_length=32, pattern=names.TRACE_ID_PATTERN)]


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def request_trace(name: SandboxName, body: TraceCreate, org: OrgScope) -> TracePublic:
    """Ask the sandbox's cluster for the hops of the traced request `traceId` (202: pending
    until the cluster's agent answers, within a minute). Create it before sending the
    request, so the agent is already reading the route server when the routers log it.
    The rules are `usecases.traces.request_trace`'s (429 `too_many_pending_traces`)."""
    return trace_public(await traces.request_trace(org, name, body.trace_id))


@router.get("")
async def list_traces(
    name: SandboxName, org: OrgScope, limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> TraceList:
    """The sandbox's most recent traces first (kept one hour)."""
    return TraceList(
        items=[trace_public(t) for t in await traces.recent_traces(org, name, limit=limit)]
    )


@router.get("/{trace_id}")
async def get_trace(name: SandboxName, trace_id: TraceIdPath, org: OrgScope) -> TracePublic:
    """The trace: `pending`, `answered` (its hops in the order the request passed them) or
    `expired` (no answer within a minute)."""
    return trace_public(await traces.get_trace(org, name, trace_id))
