"""Lifetime policies of the caller's organisation and of its teams (domain/lifetime_policy.py),
stored in the `policy_*` columns of their rows."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain.lifetime_policy import LifetimePolicy
from sandboxmesh.controlplane.repository.sandbox_statements import policy_columns, policy_from
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.store.tables import organizations, teams


def _values(policy: LifetimePolicy) -> dict[str, Any]:
    return {
        "policy_default_ttl_seconds": policy.default_ttl,
        "policy_max_ttl_seconds": policy.max_ttl,
        "policy_default_idle_seconds": policy.default_idle,
        "policy_max_sandboxes_per_member": policy.max_sandboxes_per_member,
    }


def _audited(policy: LifetimePolicy) -> dict[str, Any]:
    return {
        "defaultTtlSeconds": policy.default_ttl,
        "maxTtlSeconds": policy.max_ttl,
        "defaultIdleSeconds": policy.default_idle,
        "maxSandboxesPerMember": policy.max_sandboxes_per_member,
    }


class LifetimePolicies(Scoped):
    async def organization(self) -> LifetimePolicy:
        row = (
            (
                await self.tx.conn.execute(
                    sa.select(*policy_columns(organizations, "p")).where(
                        organizations.c.id == self.org_id
                    )
                )
            )
            .mappings()
            .one()
        )
        return policy_from(row, "p")

    async def team(self, name: str) -> LifetimePolicy:
        """The team's own policy (404 when there is no such team)."""
        row = (
            (
                await self.tx.conn.execute(
                    sa.select(*policy_columns(teams, "p")).where(
                        teams.c.org_id == self.org_id, teams.c.name == name
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise errors.NotFound("team", name)
        return policy_from(row, "p")

    async def set_organization(self, policy: LifetimePolicy) -> None:
        await self.tx.conn.execute(
            organizations.update()
            .where(organizations.c.id == self.org_id)
            .values(**_values(policy))
        )
        await self._audit("policy.set", "organization", _audited(policy))

    async def set_team(self, name: str, policy: LifetimePolicy) -> None:
        changed = await self.tx.conn.execute(
            teams.update()
            .where(teams.c.org_id == self.org_id, teams.c.name == name)
            .values(**_values(policy))
        )
        if changed.rowcount != 1:
            raise errors.NotFound("team", name)
        await self._audit("policy.set", f"team/{name}", _audited(policy))
