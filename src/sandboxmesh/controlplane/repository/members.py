"""Members of the caller's organisation, their role and their teams.

A member added by an admin is pending until the person accepts the invitation mailed to the
address (`accept`); a pending member is listed, may be changed and removed, and opens
nothing. Only accepted owners keep an organisation owned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.repository.records import Member
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.store.tables import (
    invitations,
    members,
    organizations,
    team_members,
    teams,
)


class Members(Scoped):
    async def all(self) -> list[Member]:
        return await self._load(sa.true())

    async def find(self, email: str) -> Member | None:
        found = await self._load(members.c.email == email)
        return found[0] if found else None

    async def get(self, email: str) -> Member:
        member = await self.find(email)
        if member is None:
            raise errors.NotFound("member", email)
        return member

    async def _load(self, condition: sa.ColumnElement[bool]) -> list[Member]:
        default_team = teams.alias("default_team")
        rows = (
            await self.tx.conn.execute(
                sa.select(members, default_team.c.name.label("default_team"))
                .outerjoin(default_team, default_team.c.id == members.c.default_team_id)
                .where(members.c.org_id == self.org_id, condition)
                .order_by(members.c.email)
            )
        ).mappings()
        found = list(rows)
        ids = [row["id"] for row in found]
        names: dict[int, list[str]] = {member_id: [] for member_id in ids}
        if ids:
            memberships = await self.tx.conn.execute(
                sa.select(team_members.c.member_id, teams.c.name)
                .join(teams, teams.c.id == team_members.c.team_id)
                .where(team_members.c.member_id.in_(ids), teams.c.org_id == self.org_id)
                .order_by(teams.c.name)
            )
            for member_id, team_name in memberships:
                names[member_id].append(team_name)
        return [
            Member(
                id=row["id"],
                email=row["email"],
                role=Role(row["role"]),
                default_team=row["default_team"],
                teams=tuple(names[row["id"]]),
                created_at=row["created_at"],
                accepted_at=row["accepted_at"],
            )
            for row in found
        ]

    async def _team_ids(self, names: Sequence[str]) -> dict[str, int]:
        rows = await self.tx.conn.execute(
            sa.select(teams.c.name, teams.c.id).where(
                teams.c.org_id == self.org_id, teams.c.name.in_(list(names))
            )
        )
        found: dict[str, Any] = {name: team_id for name, team_id in rows}
        missing = [name for name in names if name not in found]
        if missing:
            raise errors.NotFound("team", missing[0])
        return found

    async def add(self, email: str, *, role: Role, teams_: Sequence[str], accepted: bool) -> Member:
        """A new member; `accepted` when the person joins now (an invitation they accepted),
        else pending until `accept`."""
        if await self.find(email) is not None:
            raise errors.Conflict(f"member {email!r} already exists")
        team_ids = await self._team_ids(teams_)
        member_id = await self.tx.conn.scalar(
            members.insert()
            .values(
                org_id=self.org_id,
                email=email,
                role=role.value,
                default_team_id=team_ids[teams_[0]] if teams_ else None,
                created_at=self.tx.now,
                accepted_at=self.tx.now if accepted else None,
            )
            .returning(members.c.id)
        )
        for team_id in team_ids.values():
            await self.tx.conn.execute(
                team_members.insert().values(team_id=team_id, member_id=member_id)
            )
        await self._audit(
            "member.add",
            f"member/{email}",
            {"role": role.value, "teams": teams_, "pending": not accepted},
        )
        return await self.get(email)

    async def accept(self, email: str) -> Member:
        """The pending membership of `email` accepted by the person (NotFound when there is
        none, Conflict when it was accepted already)."""
        accepted = await self.tx.conn.execute(
            members.update()
            .where(
                members.c.org_id == self.org_id,
                members.c.email == email,
                members.c.accepted_at.is_(None),
            )
            .values(accepted_at=self.tx.now)
        )
        if accepted.rowcount != 1:
            await self.get(email)
            raise errors.Conflict(f"member {email!r} already exists")
        await self._audit("member.accept", f"member/{email}")
        return await self.get(email)

    async def update(
        self, email: str, *, role: Role | None, teams_: Sequence[str] | None
    ) -> Member:
        member = await self.get(email)
        if role is not None and role != member.role:
            if member.role is Role.OWNER:
                await self._keep_an_owner(member)
            await self.tx.conn.execute(
                members.update().where(members.c.id == member.id).values(role=role.value)
            )
        if teams_ is not None:
            team_ids = await self._team_ids(teams_)
            await self.tx.conn.execute(
                team_members.delete().where(team_members.c.member_id == member.id)
            )
            for team_id in team_ids.values():
                await self.tx.conn.execute(
                    team_members.insert().values(team_id=team_id, member_id=member.id)
                )
            await self.tx.conn.execute(
                members.update()
                .where(members.c.id == member.id)
                .values(default_team_id=team_ids[teams_[0]] if teams_ else None)
            )
        await self._audit(
            "member.update",
            f"member/{email}",
            {"role": role.value if role else None, "teams": teams_},
        )
        return await self.get(email)

    async def remove(self, email: str) -> None:
        member = await self.get(email)
        if member.role is Role.OWNER:
            await self._keep_an_owner(member)
        await self.tx.conn.execute(
            members.delete().where(members.c.org_id == self.org_id, members.c.id == member.id)
        )
        # The invitation mailed to a removed member would add them back: it ends with them.
        await self.tx.conn.execute(
            invitations.update()
            .where(
                invitations.c.org_id == self.org_id,
                invitations.c.email == email,
                invitations.c.accepted_at.is_(None),
                invitations.c.revoked_at.is_(None),
            )
            .values(revoked_at=self.tx.now)
        )
        await self._audit("member.remove", f"member/{email}")

    async def _keep_an_owner(self, leaving: Member) -> None:
        # Two owners demoting each other at once must not both see the other one still an
        # owner: whoever changes an owner locks the organisation's row first (the lock order
        # of every writer: organisation, then team, then cluster), so the second waits and
        # then counts what the first committed. SQLite serialises writers anyway.
        await self.tx.conn.execute(
            sa.select(organizations.c.id)
            .where(organizations.c.id == self.org_id)
            .with_for_update(key_share=True)
        )
        owners = await self.tx.conn.scalar(
            sa.select(sa.func.count()).where(
                members.c.org_id == self.org_id,
                members.c.role == Role.OWNER.value,
                members.c.accepted_at.is_not(None),
                members.c.id != leaving.id,
            )
        )
        if not owners:
            raise errors.Conflict("an organization keeps at least one owner")
