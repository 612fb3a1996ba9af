"""Portal accounts, unscoped: a person signs in before any organisation is known.

An account is an email, an argon2 password hash (hashed and verified by the portal, outside
any transaction) and when its holder proved the address. The organisations it opens are those
where a member of the same email accepted the membership, and only once the address is
proven: an address is whoever reads its mail, not whoever typed it first.
"""

from __future__ import annotations

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.repository.records import User
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import members, organizations, portal_sessions, users


def _user_from(row: sa.RowMapping) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
        email_verified_at=row["email_verified_at"],
        last_org_id=row["last_org_id"],
    )


async def find(tx: Tx, email: str) -> User | None:
    row = (await tx.conn.execute(sa.select(users).where(users.c.email == email))).first()
    return None if row is None else _user_from(row._mapping)


async def get(tx: Tx, user_id: int) -> User:
    row = (await tx.conn.execute(sa.select(users).where(users.c.id == user_id))).one()
    return _user_from(row._mapping)


async def create_verified(tx: Tx, *, email: str, password_hash: str) -> User:
    """An account whose address is taken as proven: by `admin bootstrap`, whose caller holds
    the store itself. Refused (Conflict) when the email has an account."""
    if await find(tx, email) is not None:
        raise errors.Conflict(f"an account for {email!r} already exists")
    await tx.conn.execute(
        users.insert().values(
            email=email, password_hash=password_hash, created_at=tx.now, email_verified_at=tx.now
        )
    )
    user = await find(tx, email)
    assert user is not None
    return user


async def prove(tx: Tx, *, email: str, password_hash: str) -> User:
    """The account of `email`, its address now proven and its password `password_hash`
    (created if it had none). Every session of the account ends: whoever held the old
    password (perhaps an earlier, unproven holder of the address) is out."""
    user = await find(tx, email)
    if user is None:
        await tx.conn.execute(
            users.insert().values(
                email=email,
                password_hash=password_hash,
                created_at=tx.now,
                email_verified_at=tx.now,
            )
        )
    else:
        await tx.conn.execute(
            users.update()
            .where(users.c.id == user.id)
            .values(
                password_hash=password_hash,
                email_verified_at=sa.func.coalesce(users.c.email_verified_at, tx.now),
            )
        )
        await tx.conn.execute(portal_sessions.delete().where(portal_sessions.c.user_id == user.id))
    proven = await find(tx, email)
    assert proven is not None
    return proven


def _accepted_memberships(email: str) -> sa.ColumnElement[bool]:
    return sa.and_(members.c.email == email, members.c.accepted_at.is_not(None))


async def organizations_of(tx: Tx, email: str) -> list[tuple[int, str]]:
    """(id, name) of every organisation where `email` accepted a membership, by name."""
    rows = await tx.conn.execute(
        sa.select(organizations.c.id, organizations.c.name)
        .join(members, members.c.org_id == organizations.c.id)
        .where(_accepted_memberships(email))
        .order_by(organizations.c.name)
    )
    return [(row.id, row.name) for row in rows]


async def landing_organization(tx: Tx, user: User) -> int | None:
    """Where a sign-in lands: the organisation last worked in while still a member there,
    else the first by name; None when the account belongs to none (or is unproven)."""
    if not user.verified:
        return None
    orgs = [org_id for org_id, _ in await organizations_of(tx, user.email)]
    if user.last_org_id in orgs:
        return user.last_org_id
    return orgs[0] if orgs else None


async def remember_organization(tx: Tx, user_id: int, org_id: int) -> None:
    await tx.conn.execute(users.update().where(users.c.id == user_id).values(last_org_id=org_id))
