"""Organisations: bootstrapping one (unscoped), and its plan and limit (scoped)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import plans, secrets
from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.repository import audit
from sandboxmesh.controlplane.repository.records import Organization
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import (
    api_tokens,
    members,
    organizations,
    team_members,
    teams,
)

DEFAULT_TEAM = "default"


def organization_from(row: sa.RowMapping) -> Organization:
    return Organization(
        id=row["id"],
        name=row["name"],
        plan=Plan(row["plan"]),
        max_sandboxes=row["max_sandboxes"],
        active_sandboxes=row["active_sandboxes"],
        created_at=row["created_at"],
    )


async def exists(tx: Tx, name: str) -> bool:
    found = await tx.conn.scalar(sa.select(organizations.c.id).where(organizations.c.name == name))
    return found is not None


async def create_organization(
    tx: Tx, *, name: str, owner_email: str, plan: Plan, actor: str = "system:bootstrap"
) -> tuple[Organization, int]:
    """A new organisation with a `default` team and its owner; returns it and the owner's id."""
    if await exists(tx, name):
        raise errors.Conflict(f"organization {name!r} already exists")
    org_id = await tx.conn.scalar(
        organizations.insert()
        .values(name=name, plan=plan.value, created_at=tx.now)
        .returning(organizations.c.id)
    )
    team_id = await tx.conn.scalar(
        teams.insert()
        .values(org_id=org_id, name=DEFAULT_TEAM, created_at=tx.now)
        .returning(teams.c.id)
    )
    member_id = await tx.conn.scalar(
        members.insert()
        .values(
            org_id=org_id,
            email=owner_email,
            role=Role.OWNER.value,
            default_team_id=team_id,
            created_at=tx.now,
            # Whoever creates an organisation is its owner at once: the person signing up
            # (their address proven first), or the holder of the store bootstrapping it.
            accepted_at=tx.now,
        )
        .returning(members.c.id)
    )
    await tx.conn.execute(team_members.insert().values(team_id=team_id, member_id=member_id))
    assert org_id is not None
    assert member_id is not None
    await audit.record(
        tx,
        org_id=org_id,
        actor=actor,
        action="organization.create",
        target=f"organization/{name}",
        details={"owner": owner_email, "plan": plan.value},
    )
    row = (
        await tx.conn.execute(sa.select(organizations).where(organizations.c.id == org_id))
    ).one()
    return organization_from(row._mapping), member_id


async def bootstrap(
    tx: Tx, *, name: str, owner_email: str, plan: Plan, token_ttl: timedelta
) -> tuple[Organization, secrets.IssuedToken]:
    """A new organisation with a `default` team and its owner; returns the owner's token."""
    organization, member_id = await create_organization(
        tx, name=name, owner_email=owner_email, plan=plan
    )
    token = secrets.issue_token(secrets.TokenKind.USER)
    await tx.conn.execute(
        api_tokens.insert().values(
            org_id=organization.id,
            member_id=member_id,
            name="bootstrap",
            prefix=token.prefix,
            token_hash=token.digest,
            created_at=tx.now,
            expires_at=tx.now + token_ttl,
        )
    )
    return organization, token


async def lift_limit(
    tx: Tx, *, name: str, max_sandboxes: int | None, actor: str = "system:admin"
) -> Organization:
    """Set organisation `name`'s explicit limit to anything, its plan's included (None: the
    plan's default): what the installation's owners do, beyond what its admins may."""
    org_id = await tx.conn.scalar(
        organizations.update()
        .where(organizations.c.name == name)
        .values(max_sandboxes=max_sandboxes)
        .returning(organizations.c.id)
    )
    if org_id is None:
        raise errors.NotFound("organization", name)
    await audit.record(
        tx,
        org_id=org_id,
        actor=actor,
        action="quota.set",
        target=f"organization/{name}",
        details={"maxSandboxes": max_sandboxes},
    )
    row = (
        await tx.conn.execute(sa.select(organizations).where(organizations.c.id == org_id))
    ).one()
    return organization_from(row._mapping)


class OrganizationSettings(Scoped):
    async def get(self, *, for_update: bool = False) -> Organization:
        query = sa.select(organizations).where(organizations.c.id == self.org_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.tx.conn.execute(query)).one()
        return organization_from(row._mapping)

    async def set_limit(self, max_sandboxes: int | None) -> Organization:
        """The admins' limit: refused (422) above the plan's, unless it lowers one the
        installation's owners lifted (`plans.limit_refusal`)."""
        current = await self.get(for_update=True)
        refusal = plans.limit_refusal(current.plan, max_sandboxes, current.max_sandboxes)
        if refusal is not None:
            raise errors.Invalid.field(["body", "maxSandboxes"], refusal)
        await self.tx.conn.execute(
            organizations.update()
            .where(organizations.c.id == self.org_id)
            .values(max_sandboxes=max_sandboxes)
        )
        organization = await self.get()
        await self._audit(
            "quota.set", f"organization/{organization.name}", {"maxSandboxes": max_sandboxes}
        )
        return organization

    async def set_plan(self, plan: Plan) -> Organization:
        current = await self.get(for_update=True)
        kept = plans.limit_after_plan_change(current.plan, plan, current.max_sandboxes)
        await self.tx.conn.execute(
            organizations.update()
            .where(organizations.c.id == self.org_id)
            .values(plan=plan.value, max_sandboxes=kept)
        )
        organization = await self.get()
        details: dict[str, object] = {"plan": plan.value}
        if kept != current.max_sandboxes:
            details["maxSandboxes"] = kept
        await self._audit("plan.set", f"organization/{organization.name}", details)
        return organization
