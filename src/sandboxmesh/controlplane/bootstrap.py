"""A store's first organisation and owner: what `sandboxmesh admin bootstrap` does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.repository import organizations, users
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store import migrate
from sandboxmesh.controlplane.store.engine import Store, create_engine


async def bootstrap(
    database_url: str,
    *,
    org: str,
    owner_email: str,
    plan: Plan,
    token_ttl: timedelta,
    password_hash: str | None = None,
) -> str:
    """Migrate the store, then create `org` with its owner in one transaction; returns the
    owner's API token (plaintext, shown once). With `password_hash`, the owner also gets a
    portal account, in the same transaction: an existing account refuses the whole bootstrap.
    """
    store = Store(create_engine(database_url))
    try:
        await migrate.upgrade(store.engine)
        async with store.transaction() as connection:
            tx = Tx(conn=connection, now=datetime.now(UTC))
            _, issued = await organizations.bootstrap(
                tx, name=org, owner_email=owner_email, plan=plan, token_ttl=token_ttl
            )
            if password_hash is not None:
                await users.create_verified(tx, email=owner_email, password_hash=password_hash)
        return issued.plaintext
    finally:
        await store.dispose()
