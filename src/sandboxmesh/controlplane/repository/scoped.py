"""The base of the per-aggregate repositories, and the audit log they all write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandboxmesh.controlplane.repository import audit
from sandboxmesh.controlplane.repository.records import AuditEvent
from sandboxmesh.controlplane.repository.transaction import Tx


class Scoped:
    """Base of the per-aggregate repositories: the transaction, the tenant and the actor."""

    def __init__(self, tx: Tx, org_id: int, actor: str) -> None:
        self.tx = tx
        self.org_id = org_id
        self.actor = actor

    async def _audit(self, action: str, target: str, details: dict[str, Any] | None = None) -> None:
        await audit.record(
            self.tx,
            org_id=self.org_id,
            actor=self.actor,
            action=action,
            target=target,
            details=details,
        )


class AuditLog(Scoped):
    async def events(
        self, *, since: datetime | None = None, action: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        return await audit.events(
            self.tx, org_id=self.org_id, since=since, action=action, limit=limit
        )
