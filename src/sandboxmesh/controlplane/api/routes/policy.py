"""Lifetime policies: the organisation's and a team's (docs/policy.md)."""

from __future__ import annotations

from fastapi import APIRouter

from sandboxmesh.controlplane.api.deps import OrgScope, TeamScope
from sandboxmesh.controlplane.api.schemas.base import ERROR_RESPONSES
from sandboxmesh.controlplane.usecases import policies
from sandboxmesh.controlplane.web.schemas.policy import (
    LifetimePolicyPublic,
    LifetimePolicyUpdate,
    policy_from_update,
    policy_public,
)

router = APIRouter(prefix="/api/v1", tags=["policy"], responses=ERROR_RESPONSES)


@router.get("/organization/policy")
async def get_organization_policy(org: OrgScope) -> LifetimePolicyPublic:
    return policy_public(await policies.organization_policy(org))


@router.put("/organization/policy")
async def set_organization_policy(
    body: LifetimePolicyUpdate, org: OrgScope
) -> LifetimePolicyPublic:
    """Replace the organisation's policy (admins and owners)."""
    view = await policies.set_organization_policy(org, policy_from_update(body))
    return policy_public(view)


@router.get("/teams/{team}/policy")
async def get_team_policy(scoped: TeamScope) -> LifetimePolicyPublic:
    return policy_public(await policies.team_policy(scoped.org, scoped.team.name))


@router.put("/teams/{team}/policy")
async def set_team_policy(body: LifetimePolicyUpdate, scoped: TeamScope) -> LifetimePolicyPublic:
    """Replace the team's policy (admins and owners); it may only narrow the organisation's."""
    view = await policies.set_team_policy(scoped.org, scoped.team.name, policy_from_update(body))
    return policy_public(view)
