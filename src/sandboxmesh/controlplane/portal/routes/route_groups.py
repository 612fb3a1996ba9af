"""Route groups: each with its key, its members and its conflicts (read-only; groups are
applied with `sandboxmesh routegroup apply` or the API)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from sandboxmesh.controlplane.portal.context import SignedIn
from sandboxmesh.controlplane.portal.rendering import page
from sandboxmesh.controlplane.usecases import route_groups

router = APIRouter(prefix="/routegroups")

#: Groups shown on the page at most (an organisation holds at most 200).
SHOWN = 100


@router.get("")
async def list_route_groups(member: SignedIn) -> Response:
    async with member.org() as org:
        groups, more = await route_groups.list_route_groups(
            org, cluster=None, after=None, limit=SHOWN
        )
    return page(member, "route_groups.html", section="routegroups", groups=groups, more=more)
