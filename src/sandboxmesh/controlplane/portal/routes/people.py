"""Teams, members and their roles, and invitations by link."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from sandboxmesh.controlplane import errors, links
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.portal import forms
from sandboxmesh.controlplane.portal.context import Member, SignedIn
from sandboxmesh.controlplane.portal.rendering import page
from sandboxmesh.controlplane.portal.routes import redirects
from sandboxmesh.controlplane.usecases import authorization, members, teams
from sandboxmesh.controlplane.web.paths import EmailPath, PrefixPath, TeamName
from sandboxmesh.controlplane.web.schemas.tenancy import Email
from sandboxmesh.spec import names

router = APIRouter()


class TeamForm(BaseModel):
    name: names.DnsLabel


class InvitationForm(BaseModel):
    role: Role
    team: names.DnsLabel | None = None
    #: Bound to this address (its pending membership, mailed); None: an open link.
    email: Email | None = None


async def _teams_page(
    member: Member,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    problems: forms.Errors | None = None,
) -> Response:
    async with member.org() as org:
        all_teams = await org.teams.all()
        all_members = await org.members.all()
        invitations = await org.invitations.open() if member.can.manage else []
    return page(
        member,
        "teams.html",
        section="teams",
        status=status,
        teams=all_teams,
        members=all_members,
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
    # Refused before the form is read, as the API's AdminScope refuses before the body.
    authorization.require_manage(member.principal)
    data = await forms.fields(request)
    form, problems = forms.validate(TeamForm, data)
    if form is None:
        return await _teams_page(member, status=422, values=data, problems=problems)
    try:
        async with member.org() as org:
            await teams.create_team(org, form.name)
    except errors.Conflict:
        problems = {"name": f"There is already a team named {form.name}."}
        return await _teams_page(member, status=409, values=data, problems=problems)
    return redirects.with_notice(member, "/teams", f"Team {form.name} created.")


@router.post("/teams/{team}/delete")
async def delete_team(team: TeamName, member: SignedIn) -> Response:
    try:
        async with member.org() as org:
            await teams.delete_team(org, team)
    except errors.Conflict as conflict:
        return redirects.with_notice(member, "/teams", forms.sentence(conflict.message))
    return redirects.with_notice(member, "/teams", f"Team {team} deleted.")


@router.post("/members/{email}/role")
async def change_role(email: EmailPath, request: Request, member: SignedIn) -> Response:
    authorization.require_manage(member.principal)  # before the form is read
    data = await forms.fields(request)
    try:
        role = Role(data.get("role", ""))
    except ValueError as invalid:
        raise errors.Invalid.field(["form", "role"], "choose a role") from invalid
    try:
        async with member.org() as org:
            await members.change_member(org, email, role=role, teams=None)
    except errors.Conflict as conflict:
        return redirects.with_notice(member, "/teams", forms.sentence(conflict.message))
    return redirects.with_notice(member, "/teams", f"{email} is now {role.value}.")


@router.post("/members/{email}/remove")
async def remove_member(email: EmailPath, member: SignedIn) -> Response:
    try:
        async with member.org() as org:
            await members.remove_member(org, email)
    except errors.Conflict as conflict:
        return redirects.with_notice(member, "/teams", forms.sentence(conflict.message))
    return redirects.with_notice(member, "/teams", f"{email} removed.")


@router.post("/invitations")
async def invite(request: Request, member: SignedIn) -> Response:
    authorization.require_manage(member.principal)  # before the form is read
    data = await forms.fields(request)
    form, problems = forms.validate(
        InvitationForm,
        {
            "role": data.get("role", ""),
            "team": data.get("team") or None,
            "email": data.get("email", "").strip().lower() or None,
        },
    )
    if form is None:
        return await _teams_page(member, status=422, values=data, problems=problems)
    runtime = member.visitor.runtime
    hours = runtime.settings.portal.invitation_ttl_hours
    if form.email is not None:
        return await _invite_by_address(member, form, data)
    try:
        async with member.org() as org:
            invitation, issued = await members.invite_by_link(
                org, role=form.role, team=form.team, ttl=timedelta(hours=hours)
            )
    except errors.NotFound:
        return await _teams_page(
            member, status=422, values=data, problems={"team": "There is no such team."}
        )
    return redirects.with_secret(
        member,
        "/teams",
        f"Invitation created: whoever opens the link within {hours} hours and proves their "
        f"address joins as {invitation.role.value}.",
        {"kind": "invitation", "link": links.invitation(runtime.settings, issued.plaintext)},
    )


async def _invite_by_address(
    member: Member, form: InvitationForm, data: dict[str, str]
) -> Response:
    assert form.email is not None
    try:
        invited = await members.invite_member(
            member.visitor.runtime,
            member.principal,
            email=form.email,
            role=form.role,
            teams=[form.team] if form.team else [],
        )
    except errors.NotFound:
        return await _teams_page(
            member, status=422, values=data, problems={"team": "There is no such team."}
        )
    except errors.Conflict:
        return await _teams_page(
            member,
            status=409,
            values=data,
            problems={"email": f"{form.email} is already a member or invited."},
        )
    if invited.mailed:
        return redirects.with_notice(
            member, "/teams", f"Invitation mailed to {form.email}: they join once they accept it."
        )
    assert invited.link is not None
    return redirects.with_secret(
        member,
        "/teams",
        f"{form.email} is invited, but no mail was sent: pass the link on. Only that address "
        "can accept it.",
        {"kind": "invitation", "link": invited.link},
    )


@router.post("/invitations/{prefix}/revoke")
async def revoke_invitation(prefix: PrefixPath, member: SignedIn) -> Response:
    async with member.org() as org:
        await members.revoke_invitation(org, prefix)
    return redirects.with_notice(member, "/teams", f"Invitation {prefix} revoked.")
