"""Members: inviting one (by address or by an open link), changing and removing one.

The API and the portal both call these, so each rule is written once: admins and owners
manage members, only owners grant the owner role, and only owners touch owners (their role,
their teams, their removal, and their tokens: usecases.tokens).

A member added by address is pending until the person accepts the invitation mailed to it,
having proven the address (usecases.accounts): adding someone grants nothing by itself, and
the person's consent is the click. Without a mail server the link is handed to whoever added
the member, to pass on; it is no more than the mail would have been, since accepting still
takes a proven account of that address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sandboxmesh.controlplane import errors, links, mail_texts
from sandboxmesh.controlplane.domain import secrets
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.repository.records import Invitation, Member, Principal
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.usecases import authorization


@dataclass(frozen=True)
class Invited:
    member: Member
    invitation: Invitation
    #: The invitation link, for whoever added the member to pass on: set only when it was
    #: not mailed (no mail server configured, or it could not be reached).
    link: str | None
    mailed: bool


async def invite_member(
    runtime: Runtime, principal: Principal, *, email: str, role: Role, teams: Sequence[str]
) -> Invited:
    """Add `email` as a pending member with `role` and `teams`, and mail the invitation.

    Runs its own unit of work and mails after it committed: call it outside a transaction."""
    authorization.require_manage(principal)
    authorization.require_grant(principal, role)
    if runtime.mailer is not None:
        runtime.throttle.mail_to(email)
    ttl = timedelta(hours=runtime.settings.portal.invitation_ttl_hours)
    async with runtime.unit_of_work() as tx:
        org = OrgScope(tx, principal)
        member = await org.members.add(email, role=role, teams_=teams, accepted=False)
        invitation, issued = await org.invitations.create(
            role=role, team=None, ttl=ttl, email=email
        )
    link = links.invitation(runtime.settings, issued.plaintext)
    if runtime.mailer is None:
        return Invited(member, invitation, link=link, mailed=False)
    mail = mail_texts.invitation(
        email,
        link,
        organization=principal.org_name,
        role=role.value,
        invited_by=principal.email,
        expires_at=invitation.expires_at,
    )
    try:
        await runtime.send_mail(mail)
    except errors.Unavailable:
        return Invited(member, invitation, link=link, mailed=False)
    return Invited(member, invitation, link=None, mailed=True)


async def invite_by_link(
    org: OrgScope, *, role: Role, team: str | None, ttl: timedelta
) -> tuple[Invitation, secrets.IssuedToken]:
    """An open invitation link (bound to no address), valid for `ttl`, to join as `role`
    (and into `team`: 404 when there is none): whoever opens it and proves their address
    joins. Its plaintext is shown this once."""
    authorization.require_manage(org.principal)
    authorization.require_grant(org.principal, role)
    return await org.invitations.create(role=role, team=team, ttl=ttl)


async def revoke_invitation(org: OrgScope, prefix: str) -> Invitation:
    authorization.require_manage(org.principal)
    return await org.invitations.revoke(prefix)


async def change_member(
    org: OrgScope, email: str, *, role: Role | None, teams: Sequence[str] | None
) -> Member:
    authorization.require_manage(org.principal)  # before the member is looked up (404)
    current = await org.members.get(email)
    authorization.require_change_member(org.principal, current.role, email)
    if role is not None:
        authorization.require_grant(org.principal, role)
    return await org.members.update(email, role=role, teams_=teams)


async def remove_member(org: OrgScope, email: str) -> None:
    authorization.require_manage(org.principal)  # before the member is looked up (404)
    current = await org.members.get(email)
    authorization.require_change_member(org.principal, current.role, email)
    await org.members.remove(email)
