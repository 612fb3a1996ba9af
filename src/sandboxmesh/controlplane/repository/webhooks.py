"""Webhook secrets (one per organisation, as a token digest) and the deliveries accepted.

`WebhookSecrets` is bound to the caller's organisation like every repository. A delivery has
no caller: `delivery_key` finds the organisation it names and its verification key, and the
use case (usecases/webhooks.py) acts in that organisation only once the signature verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import webhooks
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import (
    organizations,
    webhook_deliveries,
    webhook_secrets,
)


@dataclass(frozen=True)
class WebhookSecret:
    """What is shown of a secret: its visible prefix, and when and by whom it was made."""

    prefix: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class DeliveryKey:
    org_id: int
    #: The secret's digest (the HMAC key); None when the organisation has no secret.
    key_digest: str | None


class WebhookSecrets(Scoped):
    async def find(self) -> WebhookSecret | None:
        row = (
            (
                await self.tx.conn.execute(
                    sa.select(webhook_secrets).where(webhook_secrets.c.org_id == self.org_id)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return WebhookSecret(row["prefix"], row["created_by"], row["created_at"])

    async def get(self) -> WebhookSecret:
        found = await self.find()
        if found is None:
            raise errors.NotFound("webhook secret", "github")
        return found

    async def rotate(self) -> tuple[str, WebhookSecret]:
        """A new secret replaces the old one at once; returns its text (shown once)."""
        issued = webhooks.issue_secret()
        await self.tx.conn.execute(
            webhook_secrets.delete().where(webhook_secrets.c.org_id == self.org_id)
        )
        await self.tx.conn.execute(
            webhook_secrets.insert().values(
                org_id=self.org_id,
                prefix=issued.prefix,
                key_digest=issued.digest,
                created_by=self.actor,
                created_at=self.tx.now,
            )
        )
        await self._audit("webhook.secret.rotate", "webhook/github", {"prefix": issued.prefix})
        return issued.plaintext, WebhookSecret(issued.prefix, self.actor, self.tx.now)

    async def delete(self) -> None:
        """Remove the secret: every delivery is refused until a new one is made."""
        removed = await self.tx.conn.execute(
            webhook_secrets.delete().where(webhook_secrets.c.org_id == self.org_id)
        )
        if removed.rowcount != 1:
            raise errors.NotFound("webhook secret", "github")
        await self._audit("webhook.secret.delete", "webhook/github")


async def delivery_key(tx: Tx, org_name: str) -> DeliveryKey | None:
    """The organisation named and its webhook key; None when there is no such organisation."""
    row = (
        await tx.conn.execute(
            sa.select(organizations.c.id, webhook_secrets.c.key_digest)
            .select_from(
                organizations.outerjoin(
                    webhook_secrets, webhook_secrets.c.org_id == organizations.c.id
                )
            )
            .where(organizations.c.name == org_name)
        )
    ).first()
    return None if row is None else DeliveryKey(row.id, row.key_digest)


async def remember_delivery(tx: Tx, org_id: int, delivery_id: str) -> bool:
    """Remember the delivery; False when it was remembered already (a replay)."""
    insert = postgresql.insert if tx.is_postgres else sqlite.insert
    added = await tx.conn.execute(
        insert(webhook_deliveries)
        .values(org_id=org_id, delivery_id=delivery_id, received_at=tx.now)
        .on_conflict_do_nothing(index_elements=["org_id", "delivery_id"])
    )
    return added.rowcount == 1


async def forget_deliveries(tx: Tx) -> None:
    """Forget the deliveries older than the replay window (the sweeper)."""
    await tx.conn.execute(
        webhook_deliveries.delete().where(
            webhook_deliveries.c.received_at < tx.now - webhooks.REPLAY_WINDOW
        )
    )
