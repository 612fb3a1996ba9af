"""Metered sandbox lifetimes of the caller's organisation."""

from __future__ import annotations

import sqlalchemy as sa

from sandboxmesh.controlplane.domain import metering
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.store.tables import usage_records


class Usage(Scoped):
    async def statement(self, *, month: str, team: str | None) -> metering.Statement:
        start, end = metering.month_bounds(month)
        query = sa.select(usage_records).where(
            usage_records.c.org_id == self.org_id,
            usage_records.c.started_at < end,
            sa.or_(usage_records.c.ended_at.is_(None), usage_records.c.ended_at > start),
        )
        if team is not None:
            query = query.where(usage_records.c.team_name == team)
        rows = await self.tx.conn.execute(query)
        lifetimes = [
            metering.Lifetime(
                team=row.team_name,
                sandbox=row.sandbox_name,
                started_at=row.started_at,
                ended_at=row.ended_at,
            )
            for row in rows
        ]
        return metering.statement(lifetimes, month=month, now=self.tx.now)
