"""Accounts: signing up, confirming an address, logging in, accepting an invitation.

The rule they share: an email address counts only once its holder proved it, by opening a
single-use, expiring link mailed to it. Until then nothing opens: sign-up only mails that
link, and whoever opens it chooses the password then (the account, and the organisation
asked for, come with it); a newcomer accepting an invitation gets such a link too. An
unproven account (made before this rule) signs in to nothing: its right password mails a link.
A password is never chosen by whoever asks for a link, only by whoever opens it, so asking for
a link with someone else's address gives the asker nothing.

The answers do not tell whether an address has an account: asking for a link always says "we
sent you a link"; log-in says "do not match" alike for an unknown address and a wrong
password, spending one password hash either way. Every path that costs a password hash or
sends a mail passes the process's throttle first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sandboxmesh.controlplane import errors, links, mail_texts, passwords
from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.repository import (
    email_verifications,
    invitations,
    organizations,
    portal_sessions,
    users,
)
from sandboxmesh.controlplane.repository.invitations import OpenInvitation
from sandboxmesh.controlplane.repository.records import PortalSession, User
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.runtime import Runtime


class WrongPassword(errors.Unauthorized):
    def __init__(self) -> None:
        super().__init__("that email and password do not match an account")


class AddressUnproven(errors.Forbidden):
    """The password was right, but the address is not proven yet: a link was mailed."""

    def __init__(self, email: str) -> None:
        super().__init__(
            f"confirm your address first: we sent a link to {email}", details={"email": email}
        )


class NoOrganization(errors.Forbidden):
    def __init__(self) -> None:
        super().__init__("this account is not a member of any organisation")


@dataclass(frozen=True)
class LinkMailed:
    """A link went to `email`: what the person is told, whatever the address holds."""

    email: str


@dataclass(frozen=True)
class SignedIn:
    """A new portal session (the cookie's token) in organisation `org_id`."""

    token: str
    org_id: int


@dataclass(frozen=True)
class Confirmed:
    """A link that was opened: the address is proven; `session` when it opens an
    organisation; `notices` say what could not be done (a name taken meanwhile...)."""

    email: str
    session: SignedIn | None
    notices: tuple[str, ...] = field(default=())


def _session_ttl(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.settings.portal.session_ttl_seconds)


async def _hash(runtime: Runtime, password: str) -> str:
    async with runtime.throttle.hashing():
        return await passwords.hash_password(password)


async def _matches(runtime: Runtime, user: User | None, password: str) -> bool:
    async with runtime.throttle.hashing():
        return await passwords.verify(user.password_hash if user else None, password)


async def mail_link(
    runtime: Runtime,
    *,
    email: str,
    client: str,
    organization: str | None = None,
    joining: OpenInvitation | None = None,
) -> LinkMailed:
    """Mail `email` the link that proves it (and creates `organization`, or joins the
    invitation, when opened). The link is written first and mailed after the commit: never a
    mail for a link that does not exist."""
    runtime.require_mail()
    # Mails to one address have a limit of their own (`mail_to`); no password is tried.
    runtime.throttle.attempt(account=None, address=client)
    if organization is not None:
        async with runtime.unit_of_work() as tx:
            if await organizations.exists(tx, organization):
                raise errors.Conflict(
                    f"organization {organization!r} already exists",
                    details={"field": "organization"},
                )
    runtime.throttle.mail_to(email)
    ttl = timedelta(hours=runtime.settings.portal.verification_ttl_hours)
    async with runtime.unit_of_work() as tx:
        issued = await email_verifications.start(
            tx,
            email=email,
            ttl=ttl,
            organization=organization,
            invitation_id=joining.invitation.id if joining else None,
        )
        expires_at = tx.now + ttl
    await runtime.send_mail(
        mail_texts.confirm_address(
            email,
            links.verification(runtime.settings, issued.plaintext),
            expires_at=expires_at,
            organization=organization,
            joining=joining.org_name if joining else None,
        )
    )
    return LinkMailed(email)


async def open_link(runtime: Runtime, token: str) -> email_verifications.Verification | None:
    """What a link will do when confirmed, or None (unknown, used or expired)."""
    async with runtime.unit_of_work() as tx:
        return await email_verifications.find_open(tx, token)


async def confirm(runtime: Runtime, token: str, *, password: str) -> Confirmed | None:
    """Use a mailed link: its address is proven, its account's password is `password` (422
    when too weak), and what the link carries is done. None when the link is unknown, used
    or expired."""
    problem = passwords.problem(password)
    if problem is not None:
        raise errors.Invalid.field(["form", "password"], problem)
    if await open_link(runtime, token) is None:
        return None
    password_hash = await _hash(runtime, password)
    async with runtime.unit_of_work() as tx:
        link = await email_verifications.use(tx, token)
        if link is None:
            return None
        user = await users.prove(tx, email=link.email, password_hash=password_hash)
        notices: list[str] = []
        landing: int | None = None
        if link.organization is not None:
            landing = await _create_organization(tx, link.organization, link.email, notices)
        if link.invitation_id is not None:
            landing = await _join(tx, link.invitation_id, link.email, notices) or landing
        landing = landing or await users.landing_organization(tx, user)
        session = None
        if landing is not None:
            session = SignedIn(
                await portal_sessions.open_session(
                    tx, user_id=user.id, org_id=landing, ttl=_session_ttl(runtime)
                ),
                landing,
            )
    return Confirmed(email=link.email, session=session, notices=tuple(notices))


async def _create_organization(tx: Tx, name: str, owner: str, notices: list[str]) -> int | None:
    if await organizations.exists(tx, name):
        notices.append(f"The name {name} was taken meanwhile: no organisation was created.")
        return None
    created, _ = await organizations.create_organization(
        tx, name=name, owner_email=owner, plan=Plan.FREE, actor=f"member:{owner}"
    )
    return created.id


async def _join(tx: Tx, invitation_id: int, email: str, notices: list[str]) -> int | None:
    found = await invitations.find_open_by_id(tx, invitation_id)
    if found is None:
        notices.append("The invitation was used, revoked or expired meanwhile.")
        return None
    try:
        await invitations.accept(tx, found, email=email)
    except (errors.Conflict, errors.Forbidden, errors.NotFound) as refused:
        notices.append(f"You did not join {found.org_name}: {refused.message}.")
        return None
    return found.org_id


async def log_in(runtime: Runtime, *, email: str, password: str, client: str) -> SignedIn:
    """A session in the organisation last worked in; WrongPassword, AddressUnproven (a link
    was mailed), NoOrganization or TooManyRequests otherwise."""
    runtime.throttle.attempt(account=email, address=client)
    async with runtime.unit_of_work() as tx:
        user = await users.find(tx, email)
    if not await _matches(runtime, user, password):
        raise WrongPassword()
    assert user is not None
    runtime.throttle.right_password(email)
    if not user.verified:
        await mail_link(runtime, email=email, client=client)
        raise AddressUnproven(email)
    async with runtime.unit_of_work() as tx:
        landing = await users.landing_organization(tx, user)
        if landing is None:
            raise NoOrganization()
        token = await portal_sessions.open_session(
            tx, user_id=user.id, org_id=landing, ttl=_session_ttl(runtime)
        )
    return SignedIn(token, landing)


async def find_invitation(runtime: Runtime, token: str) -> OpenInvitation | None:
    async with runtime.unit_of_work() as tx:
        return await invitations.find_open(tx, token)


async def accept_signed_in(runtime: Runtime, token: str, session: PortalSession) -> int:
    """The signed-in account (proven: sessions open for nothing else) accepts; the session
    moves to the organisation joined, whose id it returns."""
    async with runtime.unit_of_work() as tx:
        found = await invitations.find_open(tx, token)
        if found is None:
            raise errors.NotFound("invitation", "link")
        await invitations.accept(tx, found, email=session.principal.email)
        await portal_sessions.switch_organization(tx, session, found.org_id)
    return found.org_id


async def accept_by_mail(runtime: Runtime, token: str, *, email: str, client: str) -> LinkMailed:
    """Mail `email` a link that proves it and joins the invitation (a newcomer's way in; an
    account of their own signs in and accepts instead)."""
    found = await find_invitation(runtime, token)
    if found is None:
        raise errors.NotFound("invitation", "link")
    bound = found.invitation.email
    if bound is not None and bound != email:
        raise invitations.InvitationForAnotherAddress(bound)
    return await mail_link(runtime, email=email, client=client, joining=found)
