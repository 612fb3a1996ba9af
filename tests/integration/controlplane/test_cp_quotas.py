"""Quotas: per organisation and per team, named in the 409, exact under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import sqlalchemy as sa
from tests.support import snapshots
from tests.support.controlplane import Org, manifest, register_cluster

from sandboxmesh.client import endpoints, errors
from sandboxmesh.controlplane import errors as server_errors
from sandboxmesh.controlplane.domain.plans import DEFAULT_ORG_LIMIT, Plan
from sandboxmesh.controlplane.repository import tokens
from sandboxmesh.controlplane.repository.organizations import lift_limit
from sandboxmesh.controlplane.repository.records import Principal
from sandboxmesh.controlplane.repository.sandbox_statements import Target
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.store.tables import organizations, sandboxes, teams
from sandboxmesh.spec import SandboxManifest

OrgFactory = Callable[..., Awaitable[Org]]


async def test_a_create_over_the_team_limit_names_it(acme: Org) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.create_team("payments", max_sandboxes=1))
    await acme.client.send(endpoints.apply_sandbox(manifest("one", team="payments")))
    with pytest.raises(errors.QuotaExceeded) as refused:
        await acme.client.send(endpoints.apply_sandbox(manifest("two", team="payments")))
    assert refused.value.status == 409
    assert refused.value.code == "quota_exceeded"
    assert refused.value.details == {"limit": "team", "name": "payments", "max": 1}
    assert "payments" in refused.value.message
    # Updating an existing sandbox is not a new one.
    await acme.client.send(
        endpoints.apply_sandbox(manifest("one", team="payments", description="v2"))
    )
    # Deleting frees the place.
    await acme.client.send(endpoints.delete_sandbox("one"))
    await acme.client.send(endpoints.apply_sandbox(manifest("two", team="payments")))


async def test_the_organisation_limit_spans_teams(acme: Org) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.set_organization_quota(2))
    await acme.client.send(endpoints.create_team("payments"))
    await acme.client.send(endpoints.apply_sandbox(manifest("a")))
    await acme.client.send(endpoints.apply_sandbox(manifest("b", team="payments")))
    with pytest.raises(errors.QuotaExceeded) as refused:
        await acme.client.send(endpoints.apply_sandbox(manifest("c", team="payments")))
    assert refused.value.details == {"limit": "organization", "name": "acme", "max": 2}


async def test_the_plan_gives_the_default_limit(make_org: object) -> None:
    from sandboxmesh.controlplane.domain.plans import DEFAULT_ORG_LIMIT, Plan

    free = await make_org("tiny", plan=Plan.FREE)  # type: ignore[operator]
    await register_cluster(free)
    for i in range(DEFAULT_ORG_LIMIT[Plan.FREE]):
        await free.client.send(endpoints.apply_sandbox(manifest(f"s{i}")))
    with pytest.raises(errors.QuotaExceeded):
        await free.client.send(endpoints.apply_sandbox(manifest("one-more")))


@pytest.mark.parametrize("scope", ["organization", "team"])
async def test_fifty_concurrent_creates_against_five_leave_exactly_five(
    acme: Org, runtime: Runtime, scope: str
) -> None:
    await register_cluster(acme)
    if scope == "organization":
        await acme.client.send(endpoints.set_organization_quota(5))
    else:
        await acme.client.send(endpoints.set_team_quota("default", 5))

    async def create(i: int) -> str:
        try:
            await acme.client.send(endpoints.apply_sandbox(manifest(f"race-{i}")))
        except errors.QuotaExceeded:
            return "refused"
        return "created"

    outcomes = await asyncio.gather(*(create(i) for i in range(50)))
    assert outcomes.count("created") == 5
    assert outcomes.count("refused") == 45
    listed = await acme.client.send(endpoints.list_sandboxes())
    assert len(listed.items) == 5
    async with runtime.require_store().engine.connect() as connection:
        rows = await connection.scalar(sa.select(sa.func.count()).select_from(sandboxes))
        org_active = await connection.scalar(
            organizations.select().with_only_columns(organizations.c.active_sandboxes)
        )
        team_active = await connection.scalar(
            teams.select()
            .with_only_columns(teams.c.active_sandboxes)
            .where(teams.c.name == "default")
        )
    assert (rows, org_active, team_active) == (5, 5, 5)


async def _read_target(runtime: Runtime, org: Org, name: str) -> tuple[Principal, Target]:
    """What the API reads before a create: the caller and the target of `name`."""
    async with runtime.unit_of_work() as tx:
        principal = await tokens.authenticate(tx, org.token)
        assert principal is not None
        target = await OrgScope(tx, principal).sandboxes.target(
            name, team=None, default_team_id=principal.default_team_id, cluster="staging"
        )
    assert target.team is not None
    assert target.cluster is not None
    return principal, target


async def _create(runtime: Runtime, principal: Principal, target: Target, name: str) -> None:
    assert target.team is not None
    assert target.cluster is not None
    async with runtime.unit_of_work() as tx:
        await OrgScope(tx, principal).sandboxes.apply(
            SandboxManifest.model_validate(manifest(name)),
            team=target.team,
            cluster=target.cluster,
            exists=target.exists,
        )


async def _active(org: Org) -> tuple[int, int]:
    organization = await org.client.send(endpoints.organization())
    team = await org.client.send(endpoints.get_team("default"))
    return organization.active_sandboxes, team.active_sandboxes


# A create whose target was read before something changed must leave no sandbox and no count
# behind: on PostgreSQL it runs without a transaction to roll back.


async def test_a_create_whose_cluster_is_deleted_meanwhile_counts_nothing(
    acme: Org, runtime: Runtime
) -> None:
    await register_cluster(acme)
    principal, target = await _read_target(runtime, acme, "late")
    await acme.client.send(endpoints.delete_cluster("staging"))
    with pytest.raises((server_errors.Conflict, sa.exc.IntegrityError)):
        await _create(runtime, principal, target, "late")
    assert await _active(acme) == (0, 0)
    assert (await acme.client.send(endpoints.list_sandboxes())).items == []


async def test_a_create_that_lost_the_race_for_its_name_counts_nothing(
    acme: Org, runtime: Runtime
) -> None:
    await register_cluster(acme)
    principal, target = await _read_target(runtime, acme, "same")
    assert not target.exists
    await acme.client.send(endpoints.apply_sandbox(manifest("same")))
    # The unique name refuses it, as SQLAlchemy reports it on both stores (the API: 409).
    with pytest.raises(sa.exc.IntegrityError):
        await _create(runtime, principal, target, "same")
    assert await _active(acme) == (1, 1)


async def test_admins_set_the_organisation_limit_up_to_the_plans(
    make_org: OrgFactory, runtime: Runtime
) -> None:
    free = await make_org("tiny", plan=Plan.FREE)
    ceiling = DEFAULT_ORG_LIMIT[Plan.FREE]
    before = await snapshots.organization_rows(runtime, "tiny")
    with pytest.raises(errors.Invalid) as refused:
        await free.client.send(endpoints.set_organization_quota(ceiling + 1))
    assert refused.value.details["errors"][0]["loc"] == ["body", "maxSandboxes"]
    assert f"the free plan allows at most {ceiling} sandboxes" in refused.value.message
    assert await snapshots.organization_rows(runtime, "tiny") == before
    shown = await free.client.send(endpoints.set_organization_quota(ceiling))
    assert (shown.max_sandboxes, shown.plan_max_sandboxes) == (ceiling, ceiling)
    assert (await free.client.send(endpoints.set_organization_quota(1))).max_sandboxes == 1


async def test_a_limit_the_installation_lifted_may_be_lowered_not_raised(
    make_org: OrgFactory, runtime: Runtime
) -> None:
    free = await make_org("tiny", plan=Plan.FREE)
    async with runtime.unit_of_work() as tx:
        await lift_limit(tx, name="tiny", max_sandboxes=200)
    shown = await free.client.send(endpoints.organization())
    assert (shown.max_sandboxes, shown.effective_max_sandboxes) == (200, 200)
    assert (await free.client.send(endpoints.set_organization_quota(100))).max_sandboxes == 100
    with pytest.raises(errors.Invalid):
        await free.client.send(endpoints.set_organization_quota(150))
    audit = await free.client.send(endpoints.audit(action="quota.set"))
    assert [(e.actor, e.details) for e in audit.items] == [
        ("member:owner@tiny.example", {"maxSandboxes": 100}),
        ("system:admin", {"maxSandboxes": 200}),
    ]


async def test_a_cheaper_plan_takes_back_a_limit_its_admins_set_within_the_dearer_one(
    make_org: OrgFactory, runtime: Runtime
) -> None:
    big = await make_org("big", plan=Plan.ENTERPRISE)
    await big.client.send(endpoints.set_organization_quota(800))
    shown = await big.client.send(endpoints.set_plan("free"))
    assert (shown.max_sandboxes, shown.effective_max_sandboxes) == (None, 5)
    # One the installation lifted beyond every plan is the installation's to take back.
    async with runtime.unit_of_work() as tx:
        await lift_limit(tx, name="big", max_sandboxes=5000)
    shown = await big.client.send(endpoints.set_plan("team"))
    assert shown.effective_max_sandboxes == 5000
