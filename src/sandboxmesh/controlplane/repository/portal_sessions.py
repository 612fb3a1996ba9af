"""Server-side portal sessions: opened at sign-in, looked up on every request, closed at log-out.

The cookie carries a random token; the store keeps only its SHA-256 digest (like API tokens).
A session opens one organisation at a time, as the member of the user's email there: the role
and teams are read afresh on every request, so a changed role or a removed member takes effect
at once. Only an accepted membership of an account whose address is proven opens anything.
"""

from __future__ import annotations

import secrets as random
from datetime import timedelta

import sqlalchemy as sa

from sandboxmesh.controlplane.domain import secrets
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.repository import users as users_repo
from sandboxmesh.controlplane.repository.records import PortalSession, Principal
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import (
    members,
    organizations,
    portal_sessions,
    team_members,
    teams,
    users,
)

# The organisations of an account are found through its email's memberships.
_all_orgs = organizations.alias("all_orgs")
_all_members = members.alias("all_members")


async def open_session(tx: Tx, *, user_id: int, org_id: int, ttl: timedelta) -> str:
    """A new session; returns the token for the cookie (never stored as such). The next
    sign-in lands in the same organisation."""
    token = random.token_urlsafe(32)
    await tx.conn.execute(
        portal_sessions.insert().values(
            token_hash=secrets.digest(token),
            user_id=user_id,
            org_id=org_id,
            created_at=tx.now,
            expires_at=tx.now + ttl,
        )
    )
    await users_repo.remember_organization(tx, user_id, org_id)
    # Sign-ins are rare: a good moment to forget this user's sessions that ran out.
    await tx.conn.execute(
        portal_sessions.delete().where(
            portal_sessions.c.user_id == user_id, portal_sessions.c.expires_at <= tx.now
        )
    )
    return token


async def session_for(tx: Tx, token: str) -> PortalSession | None:
    """The live session a cookie's token opens, or None (unknown, expired, or no member)."""
    if not token or len(token) > 200:
        return None
    row = (
        await tx.conn.execute(
            sa.select(
                portal_sessions.c.id,
                portal_sessions.c.user_id,
                portal_sessions.c.expires_at,
                members.c.id.label("member_id"),
                members.c.email,
                members.c.role,
                members.c.default_team_id,
                organizations.c.id.label("org_id"),
                organizations.c.name.label("org_name"),
                # Every organisation of the account, for the switch in the page header, in the
                # same round trip ("acme,globex"; names are DNS labels, never holding a comma).
                sa.select(sa.func.aggregate_strings(_all_orgs.c.name, ","))
                .join(_all_members, _all_members.c.org_id == _all_orgs.c.id)
                .where(
                    _all_members.c.email == users.c.email,
                    _all_members.c.accepted_at.is_not(None),
                )
                .scalar_subquery()
                .label("org_names"),
            )
            .join(users, users.c.id == portal_sessions.c.user_id)
            .join(organizations, organizations.c.id == portal_sessions.c.org_id)
            .join(
                members,
                sa.and_(
                    members.c.org_id == organizations.c.id,
                    members.c.email == users.c.email,
                    members.c.accepted_at.is_not(None),
                ),
            )
            .where(
                portal_sessions.c.token_hash == secrets.digest(token),
                users.c.email_verified_at.is_not(None),
            )
        )
    ).first()
    if row is None or row.expires_at <= tx.now:
        return None
    memberships = (
        await tx.conn.execute(
            sa.select(teams.c.id, teams.c.name)
            .join(team_members, team_members.c.team_id == teams.c.id)
            .where(team_members.c.member_id == row.member_id, teams.c.org_id == row.org_id)
            .order_by(teams.c.name)
        )
    ).all()
    principal = Principal(
        member_id=row.member_id,
        email=row.email,
        role=Role(row.role),
        org_id=row.org_id,
        org_name=row.org_name,
        token_id=None,
        team_ids=frozenset(team.id for team in memberships),
        default_team_id=row.default_team_id,
    )
    return PortalSession(
        id=row.id,
        user_id=row.user_id,
        principal=principal,
        team_names=tuple(team.name for team in memberships),
        expires_at=row.expires_at,
        organizations=tuple(sorted(row.org_names.split(","))),
    )


async def close(tx: Tx, token: str) -> None:
    await tx.conn.execute(
        portal_sessions.delete().where(portal_sessions.c.token_hash == secrets.digest(token))
    )


async def switch_organization(tx: Tx, session: PortalSession, org_id: int) -> bool:
    """Move the session to another organisation of the same user; False if not a member."""
    member_of = await tx.conn.scalar(
        sa.select(sa.func.count())
        .select_from(members)
        .join(users, users.c.email == members.c.email)
        .where(
            users.c.id == session.user_id,
            members.c.org_id == org_id,
            members.c.accepted_at.is_not(None),
        )
    )
    if not member_of:
        return False
    await tx.conn.execute(
        portal_sessions.update().where(portal_sessions.c.id == session.id).values(org_id=org_id)
    )
    await users_repo.remember_organization(tx, session.user_id, org_id)
    return True
