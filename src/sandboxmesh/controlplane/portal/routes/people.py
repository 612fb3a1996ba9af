"""Teams, members and their roles, and invitations by link."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.api import authorization
from sandboxmesh.controlplane.api.paths import EmailPath, PrefixPath, TeamName
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.portal import forms
from sandboxmesh.controlplane.portal.context import PREFIX, Member, SignedIn
from sandboxmesh.controlplane.portal.rendering import page
from sandboxmesh.controlplane.portal.routes import redirects
from sandboxmesh.spec import names

router = APIRouter()


class TeamForm(BaseModel):
    name: names.DnsLabel


class InvitationForm(BaseModel):
    role: Role
    team: names.DnsLabel | None = None


async def _teams_page(
    member: Member,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    problems: forms.Errors | None = None,
) -> Response:
    async with member.org() as org:
        teams = await org.teams.all()
        members = await org.members.all()
        invitations = await org.invitations.open() if member.can.manage else []
    return page(
        member,
        "teams.html",
        section="teams",
        status=status,
        teams=teams,
        members=members,
        invitations=invitations,
        values=values or {},
        errors=problems or {},
        roles=list(Role),
    )


@router.get("/teams")
async def teams_page(member: SignedIn) -> Response:
    return await _teams_page(member)


@router.post("/teams")
async def create_team(request: Request, member: SignedIn) -> Response:
    authorization.require(member.principal, Role.ADMIN)
    data = await forms.fields(request)
    form, problems = forms.validate(TeamForm, data)
    if form is None:
        return await _teams_page(member, status=422, values=data, problems=problems)
    try:
        async with member.org() as org:
            await org.teams.create(form.name)
    except errors.Conflict:
        problems = {"name": f"There is already a team named {form.name}."}
        return await _teams_page(member, status=409, values=data, problems=problems)
    return redirects.with_notice(member, "/teams", f"Team {form.name} created.")


@router.post("/teams/{team}/delete")
async def delete_team(team: TeamName, member: SignedIn) -> Response:
    authorization.require(member.principal, Role.ADMIN)
    try:
        async with member.org() as org:
            await org.teams.delete(team)
    except errors.Conflict as conflict:
        return redirects.with_notice(member, "/teams", forms.sentence(conflict.message))
    return redirects.with_notice(member, "/teams", f"Team {team} deleted.")


@router.post("/members/{email}/role")
async def change_role(email: EmailPath, request: Request, member: SignedIn) -> Response:
    authorization.require(member.principal, Role.ADMIN)
    data = await forms.fields(request)
    try:
        role = Role(data.get("role", ""))
    except ValueError as invalid:
        raise errors.Invalid.field(["form", "role"], "choose a role") from invalid
    # The same rules as PATCH /api/v1/members/{email}.
    authorization.require_grant(member.principal, role)
    try:
        async with member.org() as org:
            current = await org.members.get(email)
            if current.role is Role.OWNER and role is not Role.OWNER:
                authorization.require(member.principal, Role.OWNER)
            await org.members.update(email, role=role, teams_=None)
    except errors.Conflict as conflict:
        return redirects.with_notice(member, "/teams", forms.sentence(conflict.message))
    return redirects.with_notice(member, "/teams", f"{email} is now {role.value}.")


@router.post("/members/{email}/remove")
async def remove_member(email: EmailPath, member: SignedIn) -> Response:
    authorization.require(member.principal, Role.ADMIN)
    try:
        async with member.org() as org:
            current = await org.members.get(email)
            if current.role is Role.OWNER:
                authorization.require(member.principal, Role.OWNER)
            await org.members.remove(email)
    except errors.Conflict as conflict:
        return redirects.with_notice(member, "/teams", forms.sentence(conflict.message))
    return redirects.with_notice(member, "/teams", f"{email} removed.")


@router.post("/invitations")
async def invite(request: Request, member: SignedIn) -> Response:
    authorization.require(member.principal, Role.ADMIN)
    data = await forms.fields(request)
    form, problems = forms.validate(
        InvitationForm, {"role": data.get("role", ""), "team": data.get("team") or None}
    )
    if form is None:
        return await _teams_page(member, status=422, values=data, problems=problems)
    authorization.require_grant(member.principal, form.role)
    hours = member.visitor.runtime.settings.portal.invitation_ttl_hours
    try:
        async with member.org() as org:
            invitation, issued = await org.invitations.create(
                role=form.role, team=form.team, ttl=timedelta(hours=hours)
            )
    except errors.NotFound:
        return await _teams_page(
            member, status=422, values=data, problems={"team": "There is no such team."}
        )
    link = f"{str(request.base_url).rstrip('/')}{PREFIX}/invitations/{issued.plaintext}"
    return redirects.with_secret(
        member,
        "/teams",
        f"Invitation created: whoever opens the link within {hours} hours joins as "
        f"{invitation.role.value}.",
        {"kind": "invitation", "link": link},
    )


@router.post("/invitations/{prefix}/revoke")
async def revoke_invitation(prefix: PrefixPath, member: SignedIn) -> Response:
    authorization.require(member.principal, Role.ADMIN)
    async with member.org() as org:
        await org.invitations.revoke(prefix)
    return redirects.with_notice(member, "/teams", f"Invitation {prefix} revoked.")
