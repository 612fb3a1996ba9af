"""Route groups: apply (create or update), list, get, delete; each shown with its members and
conflicts, read from the sandboxes' labels and specs.

The API (`/api/v1/routegroups`) and the portal's page both call these. Rules: whoever may
write route groups (`domain.route_groups.may_write_route_groups`: members and up) applies and
deletes them, every member reads them; the cluster must be registered; an organisation holds
at most `MAX_ROUTE_GROUPS_PER_ORG`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import route_groups as rules
from sandboxmesh.controlplane.repository.records import RouteGroup, StoredSandbox
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.spec import preview
from sandboxmesh.spec.api.routegroups import RouteGroupMember, RouteGroupPublic
from sandboxmesh.spec.preview import PreviewUrl
from sandboxmesh.spec.routegroup import RouteGroupManifest, RouteGroupSpec
from sandboxmesh.spec.sandbox import ForkRef


@dataclass(frozen=True)
class Applied:
    group: RouteGroupPublic
    created: bool


def require_write(org: OrgScope) -> None:
    principal = org.principal
    if not rules.may_write_route_groups(principal.role):
        raise errors.Forbidden(
            "you may not change this organisation's route groups",
            details={"role": principal.role.value},
        )


def _forks(sandbox: StoredSandbox) -> list[ForkRef]:
    return [ForkRef.model_validate(fork["forkOf"]) for fork in sandbox.spec.get("forks", [])]


async def describe(org: OrgScope, group: RouteGroup) -> RouteGroupPublic:
    """The group as the API and the portal show it, with its members and conflicts now."""
    members = await org.route_groups.members(group)
    forks = {sandbox.name: _forks(sandbox) for sandbox in members}
    return RouteGroupPublic(
        name=group.name,
        cluster=group.cluster,
        spec=RouteGroupSpec.model_validate(group.spec),
        generation=group.generation,
        routing_key=group.routing_key,
        created_by=group.created_by,
        created_at=group.created_at,
        updated_at=group.updated_at,
        expires_at=group.expires_at,
        members=[
            RouteGroupMember(
                name=sandbox.name,
                team=sandbox.team,
                phase=sandbox.phase,
                forks=[str(ref) for ref in forks[sandbox.name]],
            )
            for sandbox in members
        ],
        conflicts=rules.conflicts(forks.items()),
        preview_urls=preview.group_preview_urls(
            group.routing_key, [_preview_urls(sandbox) for sandbox in members]
        ),
    )


def _preview_urls(sandbox: StoredSandbox) -> list[PreviewUrl]:
    """A member's preview URLs as its cluster last reported them (none it cannot read)."""
    status = sandbox.status or {}
    try:
        return [PreviewUrl.model_validate(url) for url in status.get("previewUrls") or []]
    except ValidationError:
        return []


async def apply_route_group(org: OrgScope, manifest: RouteGroupManifest) -> Applied:
    """Create the group `manifest` names, or update its spec. Refusals, in this order: 403
    not the caller's to write, 422 no such cluster, then the repository's (409: a move to
    another cluster, the organisation's limit)."""
    require_write(org)
    cluster = await org.clusters.find(manifest.spec.cluster)
    if cluster is None:
        raise errors.Invalid.field(
            ["body", "spec", "cluster"], f"no cluster {manifest.spec.cluster!r} is registered"
        )
    group, created = await org.route_groups.apply(manifest, cluster)
    return Applied(await describe(org, group), created)


async def list_route_groups(
    org: OrgScope, *, cluster: str | None, after: str | None, limit: int
) -> tuple[list[RouteGroupPublic], bool]:
    """A page of the organisation's groups by name, and whether more follow."""
    found = await org.route_groups.search(cluster=cluster, after=after, limit=limit + 1)
    return [await describe(org, group) for group in found[:limit]], len(found) > limit


async def get_route_group(org: OrgScope, name: str) -> RouteGroupPublic:
    return await describe(org, await org.route_groups.get(name))


async def delete_route_group(org: OrgScope, name: str) -> None:
    """Delete the group (404 when there is none): its key stops routing once the agent has
    removed its RouteGroup object."""
    require_write(org)
    await org.route_groups.delete(name)
