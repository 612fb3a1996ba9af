"""Route groups: apply by name, list, get, delete (docs/route-groups.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.api.deps import OrgScope
from sandboxmesh.controlplane.api.schemas.base import ERROR_RESPONSES
from sandboxmesh.controlplane.usecases import route_groups
from sandboxmesh.controlplane.web.paths import SandboxName
from sandboxmesh.spec import names
from sandboxmesh.spec.api.routegroups import RouteGroupList, RouteGroupPublic
from sandboxmesh.spec.routegroup import RouteGroupManifest

router = APIRouter(prefix="/api/v1/routegroups", tags=["route groups"], responses=ERROR_RESPONSES)

Name = Annotated[str | None, Query(min_length=1, max_length=63, pattern=names.DNS_LABEL_PATTERN)]
#: Route group names follow sandbox names (a DNS label of at most 40 characters).
GroupName = SandboxName


@router.put("/{name}", responses={201: {"model": RouteGroupPublic, "description": "Created"}})
async def apply_route_group(
    name: GroupName, manifest: RouteGroupManifest, org: OrgScope, response: Response
) -> RouteGroupPublic:
    """Create the route group `name`, or update its spec (201 when created, 200 otherwise).
    The body's `name` must equal the path's."""
    if manifest.name != name:
        raise errors.Invalid.field(["body", "name"], f"must equal the name in the path ({name})")
    applied = await route_groups.apply_route_group(org, manifest)
    if applied.created:
        response.status_code = status.HTTP_201_CREATED
    return applied.group


@router.get("")
async def list_route_groups(
    org: OrgScope,
    cluster: Name = None,
    after: Name = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> RouteGroupList:
    items, more = await route_groups.list_route_groups(
        org, cluster=cluster, after=after, limit=limit
    )
    return RouteGroupList(items=items, next=items[-1].name if more else None)


@router.get("/{name}")
async def get_route_group(name: GroupName, org: OrgScope) -> RouteGroupPublic:
    return await route_groups.get_route_group(org, name)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_route_group(name: GroupName, org: OrgScope) -> None:
    """Delete the group: its key stops routing once the agent removed its RouteGroup object."""
    await route_groups.delete_route_group(org, name)
