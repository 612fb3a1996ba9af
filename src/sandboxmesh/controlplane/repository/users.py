"""Portal accounts, unscoped: a person signs in before any organisation is known.

An account is an email and an argon2 password hash (hashed and verified by the portal, outside
any transaction). The organisations it opens are those with a member of the same email.
"""

from __future__ import annotations

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.repository import organizations as organizations_repo
from sandboxmesh.controlplane.repository.records import Organization, User
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import members, organizations, users


def _user_from(row: sa.RowMapping) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
    )


async def find(tx: Tx, email: str) -> User | None:
    row = (await tx.conn.execute(sa.select(users).where(users.c.email == email))).first()
    return None if row is None else _user_from(row._mapping)


async def create(tx: Tx, *, email: str, password_hash: str) -> User:
    if await find(tx, email) is not None:
        raise errors.Conflict(f"an account for {email!r} already exists")
    await tx.conn.execute(
        users.insert().values(email=email, password_hash=password_hash, created_at=tx.now)
    )
    user = await find(tx, email)
    assert user is not None
    return user


async def organizations_of(tx: Tx, email: str) -> list[tuple[int, str]]:
    """(id, name) of every organisation with a member of this email, by name."""
    rows = await tx.conn.execute(
        sa.select(organizations.c.id, organizations.c.name)
        .join(members, members.c.org_id == organizations.c.id)
        .where(members.c.email == email)
        .order_by(organizations.c.name)
    )
    return [(row.id, row.name) for row in rows]


async def sign_up(
    tx: Tx, *, email: str, password_hash: str, organization: str, plan: Plan
) -> tuple[User, Organization]:
    """A new account, and a new organisation it owns (with its `default` team)."""
    user = await create(tx, email=email, password_hash=password_hash)
    created, _ = await organizations_repo.create_organization(
        tx, name=organization, owner_email=email, plan=plan, actor=f"member:{email}"
    )
    return user, created
