"""The installation's preview signing keys (store/tables.py `preview_signing_keys`).

Not an organisation's data: the keys sign for every organisation, so these functions are
unscoped, like token authentication. `signing_keys` creates the first key on first use; two
processes doing so at once both insert, the unique `slot` lets one row in, and both read it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sandboxmesh.controlplane.domain.preview_keys import SigningKey
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import preview_signing_keys
from sandboxmesh.spec import preview

#: The slot of the key that signs.
CURRENT = "current"


def _key_from(row: sa.RowMapping) -> SigningKey:
    return SigningKey(
        kid=row["kid"],
        private_pem=row["private_key"],
        public_jwk=dict(row["public_jwk"]),
        created_at=row["created_at"],
    )


async def signing_keys(tx: Tx, *, make: Callable[[datetime], SigningKey]) -> list[SigningKey]:
    """The keys to publish, the one that signs first; creates it with `make` when there is
    none yet. A key retired (rotation) stays published until the longest token it may have
    signed has expired."""
    found = await _published(tx)
    if found and found[0][0] == CURRENT:
        return [key for _, key in found]
    new = make(tx.now)
    values = {
        "kid": new.kid,
        "algorithm": preview.SIGNING_ALGORITHM,
        "slot": CURRENT,
        "private_key": new.private_pem,
        "public_jwk": new.public_jwk,
        "created_at": new.created_at,
    }
    insert = (
        postgresql.insert(preview_signing_keys)
        if tx.is_postgres
        else sqlite.insert(preview_signing_keys)
    )
    # No conflict target: whichever unique column a concurrent first use filled, keep its row.
    await tx.conn.execute(insert.values(values).on_conflict_do_nothing())
    # Under READ COMMITTED (and SQLite's one writer) this reads the row that won.
    return [key for _, key in await _published(tx)]


async def _published(tx: Tx) -> list[tuple[str | None, SigningKey]]:
    since = tx.now - timedelta(seconds=preview.MAX_TOKEN_SECONDS)
    rows = (
        await tx.conn.execute(
            sa.select(preview_signing_keys)
            .where(
                sa.or_(
                    preview_signing_keys.c.slot == CURRENT,
                    preview_signing_keys.c.retired_at.is_(None),
                    preview_signing_keys.c.retired_at > since,
                )
            )
            # The signing key first, then the newest.
            .order_by(
                sa.case((preview_signing_keys.c.slot == CURRENT, 0), else_=1),
                preview_signing_keys.c.created_at.desc(),
                preview_signing_keys.c.id.desc(),
            )
        )
    ).mappings()
    return [(row["slot"], _key_from(row)) for row in rows]
