"""The audit log: who changed what, when. Written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from sandboxmesh.controlplane.repository.records import AuditEvent
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import audit_events


async def record(
    tx: Tx,
    *,
    org_id: int,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    await tx.conn.execute(
        audit_events.insert().values(
            org_id=org_id,
            at=tx.now,
            actor=actor,
            action=action,
            target=target,
            details=details or {},
        )
    )


async def events(
    tx: Tx, *, org_id: int, since: datetime | None, action: str | None, limit: int
) -> list[AuditEvent]:
    query = sa.select(audit_events).where(audit_events.c.org_id == org_id)
    if since is not None:
        query = query.where(audit_events.c.at >= since)
    if action is not None:
        query = query.where(audit_events.c.action == action)
    query = query.order_by(audit_events.c.id.desc()).limit(limit)
    rows = (await tx.conn.execute(query)).mappings()
    return [
        AuditEvent(
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            target=row["target"],
            details=row["details"],
        )
        for row in rows
    ]
