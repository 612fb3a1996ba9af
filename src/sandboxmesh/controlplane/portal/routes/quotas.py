"""Quotas: the organisation's plan and limit, each team's limit, and the lifetime policies
(their forms are routes/policies.py's)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.portal import forms
from sandboxmesh.controlplane.portal.context import Member, SignedIn
from sandboxmesh.controlplane.portal.rendering import page
from sandboxmesh.controlplane.portal.routes import redirects
from sandboxmesh.controlplane.usecases import authorization, organization, policies, teams
from sandboxmesh.controlplane.web.paths import TeamName
from sandboxmesh.controlplane.web.schemas.policy import policy_public
from sandboxmesh.controlplane.web.schemas.tenancy import organization_public

router = APIRouter(prefix="/quotas")


class LimitForm(BaseModel):
    #: Empty: no explicit limit (the plan's default for the organisation, none for a team).
    max_sandboxes: int | None = Field(default=None, ge=0, le=1_000_000)


def _limit(data: dict[str, str]) -> tuple[LimitForm | None, forms.Errors]:
    raw = data.get("max_sandboxes", "")
    return forms.validate(LimitForm, {"max_sandboxes": raw or None})


async def quotas_page_for(
    member: Member,
    *,
    status: int = 200,
    problems: dict[str, forms.Errors] | None = None,
    values: dict[str, str] | None = None,
    policy_problems: dict[str, forms.Errors] | None = None,
    policy_values: dict[str, dict[str, str]] | None = None,
) -> Response:
    """The page, with the problems and values of a form sent back (by its scope: the
    organisation's under "organization", a team's under its name)."""
    async with member.org() as org:
        shown = organization_public(await org.organization.get())
        all_teams = await org.teams.all()
        lifetime = {"organization": policy_public(await policies.organization_policy(org))}
        for team in all_teams:
            view = await policies.team_policy(org, team.name)
            lifetime[f"team/{team.name}"] = policy_public(view)
    return page(
        member,
        "quotas.html",
        section="quotas",
        status=status,
        organization=shown,
        teams=all_teams,
        plans=list(Plan),
        problems=problems or {},
        values=values or {},
        policies=lifetime,
        policy_problems=policy_problems or {},
        policy_values=policy_values or {},
    )


@router.get("")
async def quotas_page(member: SignedIn) -> Response:
    return await quotas_page_for(member)


@router.post("/organization")
async def set_organization_limit(request: Request, member: SignedIn) -> Response:
    # Refused before the form is read, as the API's AdminScope refuses before the body.
    authorization.require_manage(member.principal)
    data = await forms.fields(request)
    form, problems = _limit(data)
    if form is None:
        return await quotas_page_for(
            member,
            status=422,
            problems={"organization": problems},
            values={"organization": data.get("max_sandboxes", "")},
        )
    try:
        async with member.org() as org:
            await organization.set_organization_limit(org, form.max_sandboxes)
    except errors.Invalid as refused:  # above the plan's limit
        problem = forms.sentence(forms.from_api_error(refused)["__all__"])
        return await quotas_page_for(
            member,
            status=422,
            problems={"organization": {"max_sandboxes": problem}},
            values={"organization": data.get("max_sandboxes", "")},
        )
    return redirects.with_notice(member, "/quotas", "Organisation limit saved.")


@router.post("/plan")
async def set_plan(request: Request, member: SignedIn) -> Response:
    authorization.require_plan_change(member.principal)  # before the form is read
    data = await forms.fields(request)
    try:
        plan = Plan(data.get("plan", ""))
    except ValueError as invalid:
        raise errors.Invalid.field(["form", "plan"], "choose a plan") from invalid
    async with member.org() as org:
        await organization.set_plan(org, plan)
    return redirects.with_notice(member, "/quotas", f"Plan changed to {plan.value}.")


@router.post("/teams/{team}")
async def set_team_limit(team: TeamName, request: Request, member: SignedIn) -> Response:
    authorization.require_manage(member.principal)  # before the form is read
    data = await forms.fields(request)
    form, problems = _limit(data)
    if form is None:
        return await quotas_page_for(
            member,
            status=422,
            problems={team: problems},
            values={team: data.get("max_sandboxes", "")},
        )
    async with member.org() as org:
        await teams.set_team_limit(org, team, form.max_sandboxes)
    return redirects.with_notice(member, "/quotas", f"Limit of team {team} saved.")
