"""Teams of the caller's organisation."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.repository.records import Team
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.store.tables import sandboxes, teams


def team_from(row: sa.RowMapping) -> Team:
    return Team(
        id=row["id"],
        name=row["name"],
        max_sandboxes=row["max_sandboxes"],
        active_sandboxes=row["active_sandboxes"],
        created_at=row["created_at"],
    )


class Teams(Scoped):
    def _select(self) -> sa.Select[Any]:
        return sa.select(teams).where(teams.c.org_id == self.org_id)

    async def all(self) -> list[Team]:
        rows = await self.tx.conn.execute(self._select().order_by(teams.c.name))
        return [team_from(row._mapping) for row in rows]

    async def find(self, name: str) -> Team | None:
        row = (await self.tx.conn.execute(self._select().where(teams.c.name == name))).first()
        return None if row is None else team_from(row._mapping)

    async def get(self, name: str) -> Team:
        team = await self.find(name)
        if team is None:
            raise errors.NotFound("team", name)
        return team

    async def get_by_id(self, team_id: int) -> Team:
        row = (await self.tx.conn.execute(self._select().where(teams.c.id == team_id))).one()
        return team_from(row._mapping)

    async def create(self, name: str, *, max_sandboxes: int | None = None) -> Team:
        if await self.find(name) is not None:
            raise errors.Conflict(f"team {name!r} already exists")
        await self.tx.conn.execute(
            teams.insert().values(
                org_id=self.org_id, name=name, max_sandboxes=max_sandboxes, created_at=self.tx.now
            )
        )
        await self._audit("team.create", f"team/{name}", {"maxSandboxes": max_sandboxes})
        return await self.get(name)

    async def delete(self, name: str) -> None:
        team = await self.get(name)
        in_use = await self.tx.conn.scalar(
            sa.select(sa.func.count()).where(sandboxes.c.team_id == team.id)
        )
        if in_use:
            raise errors.Conflict(
                f"team {name!r} still has {in_use} sandboxes; delete them first",
                details={"sandboxes": in_use},
            )
        await self.tx.conn.execute(
            teams.delete().where(teams.c.org_id == self.org_id, teams.c.id == team.id)
        )
        await self._audit("team.delete", f"team/{name}")

    async def set_limit(self, name: str, max_sandboxes: int | None) -> Team:
        team = await self.get(name)
        await self.tx.conn.execute(
            teams.update().where(teams.c.id == team.id).values(max_sandboxes=max_sandboxes)
        )
        await self._audit("quota.set", f"team/{name}", {"maxSandboxes": max_sandboxes})
        return await self.get(name)
