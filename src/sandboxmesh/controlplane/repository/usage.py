"""Metered sandbox lifetimes of the caller's organisation."""

from __future__ import annotations

import sqlalchemy as sa

from sandboxmesh.controlplane.domain import metering, usage_by_day
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.store.tables import usage_records


class Usage(Scoped):
    async def statement(self, *, month: str, team: str | None) -> metering.Statement:
        lifetimes = await self._lifetimes(month=month, team=team)
        return metering.statement(lifetimes, month=month, now=self.tx.now)

    async def daily(self, *, month: str, team: str | None) -> usage_by_day.DailyUsage:
        """Sandbox-hours per team and UTC day of `month`."""
        lifetimes = await self._lifetimes(month=month, team=team)
        return usage_by_day.daily_usage(lifetimes, month=month, now=self.tx.now)

    async def _lifetimes(self, *, month: str, team: str | None) -> list[metering.Lifetime]:
        start, end = metering.month_bounds(month)
        query = sa.select(usage_records).where(
            usage_records.c.org_id == self.org_id,
            usage_records.c.started_at < end,
            sa.or_(usage_records.c.ended_at.is_(None), usage_records.c.ended_at > start),
        )
        if team is not None:
            query = query.where(usage_records.c.team_name == team)
        rows = await self.tx.conn.execute(query)
        return [
            metering.Lifetime(
                team=row.team_name,
                sandbox=row.sandbox_name,
                started_at=row.started_at,
                ended_at=row.ended_at,
            )
            for row in rows
        ]
