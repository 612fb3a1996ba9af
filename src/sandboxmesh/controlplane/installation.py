"""What the owners of an installation do straight in the store, beyond what the API lets an
organisation's own admins do: `sandboxmesh admin org-limit`."""

from __future__ import annotations

from datetime import UTC, datetime

from sandboxmesh.controlplane.repository import organizations
from sandboxmesh.controlplane.repository.records import Organization
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store import migrate
from sandboxmesh.controlplane.store.engine import Store, create_engine


async def set_organization_limit(
    database_url: str, *, org: str, max_sandboxes: int | None
) -> Organization:
    """Migrate the store, then set `org`'s explicit limit to `max_sandboxes`, whatever its
    plan allows (None: the plan's default), audited as `system:admin`. NotFound for an
    unknown organisation."""
    store = Store(create_engine(database_url))
    try:
        await migrate.upgrade(store.engine)
        async with store.transaction() as connection:
            tx = Tx(conn=connection, now=datetime.now(UTC))
            return await organizations.lift_limit(tx, name=org, max_sandboxes=max_sandboxes)
    finally:
        await store.dispose()
