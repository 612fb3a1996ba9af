"""Teams and their limits: creating, deleting, setting a team's sandbox limit.

The API and the portal both call these; only those who manage the organisation
(`domain.roles.manages_organization`) change teams. Every member sees them.
"""

from __future__ import annotations

from sandboxmesh.controlplane.repository.records import Team
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.usecases import authorization


async def create_team(org: OrgScope, name: str, *, max_sandboxes: int | None = None) -> Team:
    """A new team (409 when the name is taken), limited to `max_sandboxes` (None: only by
    the organisation's limit)."""
    authorization.require_manage(org.principal)
    return await org.teams.create(name, max_sandboxes=max_sandboxes)


async def delete_team(org: OrgScope, name: str) -> None:
    """Delete `name` (404 when there is none; 409 while it still has sandboxes)."""
    authorization.require_manage(org.principal)
    await org.teams.delete(name)


async def set_team_limit(org: OrgScope, name: str, max_sandboxes: int | None) -> Team:
    authorization.require_manage(org.principal)
    return await org.teams.set_limit(name, max_sandboxes)
