"""Invitations to an organisation by link: single-use, expiring, the role chosen by the inviter.

The link carries a random token (`smi_<prefix>_<secret>`); the store keeps its digest and the
visible prefix, like every other token. Accepting is a conditional update, so two people racing
with one link cannot both join.

An invitation is either open (whoever accepts it joins, with the invitation's role and team)
or bound to an address: that address's pending membership, added by an admin, with the role
and teams it has when accepted; only the proven account of that address may accept it. Either
way the person accepting has proven their address first (the portal sees to it): the link
itself proves nothing, since whoever created it may have handed it to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import secrets
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.repository.members import Members
from sandboxmesh.controlplane.repository.records import Invitation, Member
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import invitations, members, organizations, teams


def _select() -> sa.Select[Any]:
    return (
        sa.select(
            invitations.c.id,
            invitations.c.org_id,
            invitations.c.prefix,
            # A bound invitation shows the role its pending membership has now.
            sa.func.coalesce(members.c.role, invitations.c.role).label("role"),
            invitations.c.created_by,
            invitations.c.created_at,
            invitations.c.expires_at,
            invitations.c.accepted_at,
            invitations.c.accepted_by,
            invitations.c.revoked_at,
            invitations.c.email,
            teams.c.name.label("team_name"),
        )
        .outerjoin(teams, teams.c.id == invitations.c.team_id)
        .outerjoin(
            members,
            sa.and_(
                members.c.org_id == invitations.c.org_id, members.c.email == invitations.c.email
            ),
        )
    )


def _invitation_from(row: sa.RowMapping) -> Invitation:
    return Invitation(
        id=row["id"],
        prefix=row["prefix"],
        role=Role(row["role"]),
        team=row["team_name"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        accepted_at=row["accepted_at"],
        accepted_by=row["accepted_by"],
        revoked_at=row["revoked_at"],
        email=row["email"],
    )


def _open(tx: Tx) -> sa.ColumnElement[bool]:
    return sa.and_(
        invitations.c.accepted_at.is_(None),
        invitations.c.revoked_at.is_(None),
        invitations.c.expires_at > tx.now,
    )


class Invitations(Scoped):
    async def create(
        self, *, role: Role, team: str | None, ttl: timedelta, email: str | None = None
    ) -> tuple[Invitation, secrets.IssuedToken]:
        """A new invitation link; with `email`, bound to that address's pending membership
        (which the caller added)."""
        team_id = None
        if team is not None:
            team_id = await self.tx.conn.scalar(
                sa.select(teams.c.id).where(teams.c.org_id == self.org_id, teams.c.name == team)
            )
            if team_id is None:
                raise errors.NotFound("team", team)
        issued = secrets.issue_token(secrets.TokenKind.INVITATION)
        await self.tx.conn.execute(
            invitations.insert().values(
                org_id=self.org_id,
                prefix=issued.prefix,
                token_hash=issued.digest,
                role=role.value,
                team_id=team_id,
                created_by=self.actor,
                created_at=self.tx.now,
                expires_at=self.tx.now + ttl,
                email=email,
            )
        )
        await self._audit(
            "invitation.create",
            f"invitation/{issued.prefix}",
            {"role": role.value, "team": team, "email": email},
        )
        return await self._get(issued.prefix), issued

    async def open(self) -> list[Invitation]:
        """Invitations that can still be accepted, newest first."""
        rows = await self.tx.conn.execute(
            _select()
            .where(invitations.c.org_id == self.org_id, _open(self.tx))
            .order_by(invitations.c.created_at.desc(), invitations.c.id.desc())
        )
        return [_invitation_from(row) for row in rows.mappings()]

    async def revoke(self, prefix: str) -> Invitation:
        invitation = await self._get(prefix)
        if invitation.revoked_at is None and invitation.accepted_at is None:
            await self.tx.conn.execute(
                invitations.update()
                .where(invitations.c.org_id == self.org_id, invitations.c.id == invitation.id)
                .values(revoked_at=self.tx.now)
            )
            await self._audit("invitation.revoke", f"invitation/{prefix}")
        return await self._get(prefix)

    async def _get(self, prefix: str) -> Invitation:
        row = (
            (
                await self.tx.conn.execute(
                    _select().where(
                        invitations.c.org_id == self.org_id, invitations.c.prefix == prefix
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise errors.NotFound("invitation", prefix)
        return _invitation_from(row)


@dataclass(frozen=True)
class OpenInvitation:
    """An invitation a link still opens, and the organisation it is to."""

    invitation: Invitation
    org_id: int
    org_name: str


async def find_open(tx: Tx, token: str) -> OpenInvitation | None:
    """The invitation a link's token opens, or None (unknown, used, revoked or expired)."""
    if secrets.token_kind(token) is not secrets.TokenKind.INVITATION:
        return None
    return await _find_open(tx, invitations.c.token_hash == secrets.digest(token))


async def _find_open(tx: Tx, which: sa.ColumnElement[bool]) -> OpenInvitation | None:
    row = (
        (
            await tx.conn.execute(
                _select()
                .add_columns(organizations.c.name.label("org_name"))
                .join(organizations, organizations.c.id == invitations.c.org_id)
                .where(which, _open(tx))
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return OpenInvitation(_invitation_from(row), org_id=row["org_id"], org_name=row["org_name"])


class InvitationForAnotherAddress(errors.Forbidden):
    def __init__(self, invited: str) -> None:
        super().__init__(
            f"this invitation is for {invited}: sign in with that address to accept it",
            details={"email": invited},
        )


async def accept(tx: Tx, found: OpenInvitation, *, email: str) -> tuple[OpenInvitation, Member]:
    """Use the invitation once: `email`, whose holder proved it, joins its organisation (with
    the role it names, or the pending membership it was sent for)."""
    bound = found.invitation.email
    if bound is not None and bound != email:
        raise InvitationForAnotherAddress(bound)
    joining = Members(tx, found.org_id, f"member:{email}")
    if bound is None:
        already = await joining.find(email)
        if already is not None and already.pending:
            raise errors.Conflict(
                f"{email} was invited by address: accept the invitation mailed to it"
            )
    taken = await tx.conn.execute(
        invitations.update()
        .where(invitations.c.id == found.invitation.id, _open(tx))
        .values(accepted_at=tx.now, accepted_by=email)
    )
    if taken.rowcount != 1:
        raise errors.NotFound("invitation", "link")
    if bound is not None:
        return found, await joining.accept(email)
    team = found.invitation.team
    member = await joining.add(
        email, role=found.invitation.role, teams_=[team] if team else [], accepted=True
    )
    return found, member


async def find_open_by_id(tx: Tx, invitation_id: int) -> OpenInvitation | None:
    """The invitation of this id while it can still be accepted, or None."""
    return await _find_open(tx, invitations.c.id == invitation_id)
