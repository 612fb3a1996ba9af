"""Teams and their quotas."""

from __future__ import annotations

from fastapi import APIRouter, status

from sandboxmesh.controlplane.api.deps import AdminScope, OrgScope, TeamScope
from sandboxmesh.controlplane.api.schemas.base import ERROR_RESPONSES
from sandboxmesh.controlplane.usecases import teams
from sandboxmesh.controlplane.web.schemas.tenancy import (
    QuotaUpdate,
    TeamCreate,
    TeamList,
    TeamPublic,
    team_public,
)

router = APIRouter(prefix="/api/v1/teams", tags=["teams"], responses=ERROR_RESPONSES)


@router.get("")
async def list_teams(org: OrgScope) -> TeamList:
    return TeamList(items=[team_public(team) for team in await org.teams.all()])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_team(body: TeamCreate, org: AdminScope) -> TeamPublic:
    return team_public(await teams.create_team(org, body.name, max_sandboxes=body.max_sandboxes))


@router.get("/{team}")
async def get_team(scoped: TeamScope) -> TeamPublic:
    return team_public(scoped.team)


@router.delete("/{team}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_team(scoped: TeamScope) -> None:
    await teams.delete_team(scoped.org, scoped.team.name)


@router.put("/{team}/quota")
async def set_team_quota(body: QuotaUpdate, scoped: TeamScope) -> TeamPublic:
    team = await teams.set_team_limit(scoped.org, scoped.team.name, body.max_sandboxes)
    return team_public(team)
