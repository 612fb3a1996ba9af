"""Route traces of a sandbox: the trace page lists every hop's decision and reason.

The sandbox page links the last traces (`sandboxes.py` asks `recent_traces`); both call the
use cases the API does, so a member sees here exactly what the API would show them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.responses import Response

from sandboxmesh.controlplane.portal.context import SignedIn
from sandboxmesh.controlplane.portal.rendering import page
from sandboxmesh.controlplane.usecases import traces
from sandboxmesh.controlplane.web.paths import SandboxName
from sandboxmesh.spec import names

router = APIRouter()

TraceIdPath = Annotated[str, Path(min_length=32, max_length=32, pattern=names.TRACE_ID_PATTERN)]


@router.get("/sandboxes/{name}/traces/{trace_id}")
async def trace_page(name: SandboxName, trace_id: TraceIdPath, member: SignedIn) -> Response:
    async with member.org() as org:
        trace = await traces.get_trace(org, name, trace_id)
    return page(member, "sandboxes/trace.html", section="sandboxes", name=name, trace=trace)
