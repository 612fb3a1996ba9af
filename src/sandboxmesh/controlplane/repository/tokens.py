"""API tokens: issued (shown once), listed by prefix, revoked; and authentication by token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import secrets
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.repository.records import ApiToken, Principal
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.prepared import Prepared
from sandboxmesh.controlplane.store.tables import (
    UtcDateTime,
    api_tokens,
    members,
    organizations,
    team_members,
)

# last_used_at is a hint for people, not an audit trail: write it at most this often.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


# The lookup every authenticated request makes, prepared once (parameter: digest). Parameters
# are named unlike the columns: an UPDATE puts any parameter named after a column in its SET.
_AUTHENTICATE = Prepared(
    sa.select(
        api_tokens.c.id.label("token_id"),
        api_tokens.c.expires_at,
        api_tokens.c.revoked_at,
        api_tokens.c.last_used_at,
        members.c.id.label("member_id"),
        members.c.email,
        members.c.role,
        members.c.default_team_id,
        organizations.c.id.label("org_id"),
        organizations.c.name.label("org_name"),
        # The member's teams in the same round trip ("3,7,12"; NULL for none).
        sa.select(sa.func.aggregate_strings(sa.cast(team_members.c.team_id, sa.String), ","))
        .where(team_members.c.member_id == members.c.id)
        .scalar_subquery()
        .label("team_ids"),
    )
    # A pending membership opens nothing (none has a token; this keeps it so).
    .join(
        members,
        sa.and_(members.c.id == api_tokens.c.member_id, members.c.accepted_at.is_not(None)),
    )
    .join(organizations, organizations.c.id == api_tokens.c.org_id)
    .where(api_tokens.c.token_hash == sa.bindparam("digest"))
)
# Re-checked in SQL: of concurrent requests only the first writes (and row-locks) it.
# Parameters: token, cutoff, used_at. Through SQLAlchemy, as every write, so it is part of
# the request's transaction (at most once a minute per token: its cost does not matter).
_TOUCH = (
    api_tokens.update()
    .where(
        api_tokens.c.id == sa.bindparam("token"),
        sa.or_(
            api_tokens.c.last_used_at.is_(None),
            api_tokens.c.last_used_at < sa.bindparam("cutoff", type_=UtcDateTime),
        ),
    )
    .values(last_used_at=sa.bindparam("used_at", type_=UtcDateTime))
)


async def authenticate(tx: Tx, token: str) -> Principal | None:
    """The member a live API token belongs to, or None (unknown, revoked or expired)."""
    if secrets.token_kind(token) is not secrets.TokenKind.USER:
        return None
    row = await tx.fetch_one(_AUTHENTICATE, {"digest": secrets.digest(token)})
    if row is None or row["revoked_at"] is not None or row["expires_at"] <= tx.now:
        return None
    cutoff = tx.now - _LAST_USED_RESOLUTION
    if row["last_used_at"] is None or row["last_used_at"] < cutoff:
        await tx.conn.execute(
            _TOUCH, {"token": row["token_id"], "cutoff": cutoff, "used_at": tx.now}
        )
    return Principal(
        member_id=row["member_id"],
        email=row["email"],
        role=Role(row["role"]),
        org_id=row["org_id"],
        org_name=row["org_name"],
        token_id=row["token_id"],
        team_ids=frozenset(int(team) for team in (row["team_ids"] or "").split(",") if team),
        default_team_id=row["default_team_id"],
    )


def _token_from(row: sa.RowMapping) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        member_email=row["email"],
        member_role=Role(row["role"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


class ApiTokens(Scoped):
    def _select(self) -> sa.Select[Any]:
        return (
            sa.select(api_tokens, members.c.email, members.c.role)
            .join(members, members.c.id == api_tokens.c.member_id)
            .where(api_tokens.c.org_id == self.org_id)
        )

    async def all(self, *, member_id: int | None) -> list[ApiToken]:
        """Tokens of one member, or of everyone when `member_id` is None."""
        query = self._select().order_by(api_tokens.c.created_at, api_tokens.c.id)
        if member_id is not None:
            query = query.where(api_tokens.c.member_id == member_id)
        return [_token_from(row) for row in (await self.tx.conn.execute(query)).mappings()]

    async def find(self, prefix: str) -> ApiToken | None:
        row = (
            (await self.tx.conn.execute(self._select().where(api_tokens.c.prefix == prefix)))
            .mappings()
            .first()
        )
        return None if row is None else _token_from(row)

    async def create(
        self, *, member_id: int, name: str, ttl: timedelta
    ) -> tuple[ApiToken, secrets.IssuedToken]:
        issued = secrets.issue_token(secrets.TokenKind.USER)
        await self.tx.conn.execute(
            api_tokens.insert().values(
                org_id=self.org_id,
                member_id=member_id,
                name=name,
                prefix=issued.prefix,
                token_hash=issued.digest,
                created_at=self.tx.now,
                expires_at=self.tx.now + ttl,
            )
        )
        token = await self.find(issued.prefix)
        assert token is not None
        await self._audit(
            "token.create",
            f"token/{issued.prefix}",
            {"name": name, "member": token.member_email, "expiresAt": token.expires_at.isoformat()},
        )
        return token, issued

    async def revoke(self, prefix: str) -> ApiToken:
        """Revoke a token by prefix (who may is for the caller to decide)."""
        token = await self.find(prefix)
        if token is None:
            raise errors.NotFound("token", prefix)
        if token.revoked_at is None:
            await self.tx.conn.execute(
                api_tokens.update()
                .where(api_tokens.c.org_id == self.org_id, api_tokens.c.id == token.id)
                .values(revoked_at=self.tx.now)
            )
            await self._audit("token.revoke", f"token/{prefix}", {"name": token.name})
        revoked = await self.find(prefix)
        assert revoked is not None
        return revoked
