"""Lifetime policies on the quotas page: shown to every member, set by admins and owners
through the same use cases as the API (usecases/policies.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain.lifetime_policy import LifetimePolicy
from sandboxmesh.controlplane.portal import forms
from sandboxmesh.controlplane.portal.context import Member, SignedIn
from sandboxmesh.controlplane.portal.routes import quotas, redirects
from sandboxmesh.controlplane.usecases import authorization, policies
from sandboxmesh.controlplane.web.paths import TeamName
from sandboxmesh.spec import names
from sandboxmesh.spec.api.policy import PolicyDuration

router = APIRouter(prefix="/quotas/policy")

#: The form's fields, by the API's names (what the use case's refusals name).
_FIELD_OF_API = {
    "defaultTtl": "default_ttl",
    "maxTtl": "max_ttl",
    "defaultIdle": "default_idle",
    "maxSandboxesPerMember": "max_sandboxes_per_member",
}


class PolicyForm(BaseModel):
    """Empty fields: no bound of this scope."""

    default_ttl: PolicyDuration | None = None
    max_ttl: PolicyDuration | None = None
    default_idle: PolicyDuration | None = None
    max_sandboxes_per_member: int | None = Field(default=None, ge=0, le=1_000_000)

    def policy(self) -> LifetimePolicy:
        def seconds(text: str | None) -> int | None:
            return None if text is None else names.duration_seconds(text)

        return LifetimePolicy(
            default_ttl=seconds(self.default_ttl),
            max_ttl=seconds(self.max_ttl),
            default_idle=seconds(self.default_idle),
            max_sandboxes_per_member=self.max_sandboxes_per_member,
        )


async def _save(request: Request, member: Member, key: str, team: str | None) -> Response:
    authorization.require_manage(member.principal)  # before the form is read
    data = await forms.fields(request)
    values = {name: data.get(name, "").strip() for name in _FIELD_OF_API.values()}
    form, problems = forms.validate(PolicyForm, {k: v or None for k, v in values.items()})
    if form is not None:
        try:
            async with member.org() as org:
                if team is None:
                    await policies.set_organization_policy(org, form.policy())
                else:
                    await policies.set_team_policy(org, team, form.policy())
        except errors.Invalid as refused:
            found = refused.details.get("errors") or [{}]
            location = found[0].get("loc", [])
            name = _FIELD_OF_API.get(str(location[-1]) if location else "", "__all__")
            problems = {name: forms.sentence(str(found[0].get("msg", refused.message)))}
    if problems:
        return await quotas.quotas_page_for(
            member, status=422, policy_problems={key: problems}, policy_values={key: values}
        )
    saved = "Organisation policy saved." if team is None else f"Policy of team {team} saved."
    return redirects.with_notice(member, "/quotas", saved)


@router.post("/organization")
async def set_organization_policy(request: Request, member: SignedIn) -> Response:
    return await _save(request, member, "organization", None)


@router.post("/teams/{team}")
async def set_team_policy(team: TeamName, request: Request, member: SignedIn) -> Response:
    return await _save(request, member, f"team/{team}", team)
