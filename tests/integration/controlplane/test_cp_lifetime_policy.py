"""Lifetime policies (docs/policy.md): set by admins, narrowed by teams, enforced at create
and update with their own codes, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from tests.support.controlplane import Org, accepted_member, manifest, register_cluster

from sandboxmesh.client import endpoints, errors
from sandboxmesh.controlplane.runtime import Runtime

OrgFactory = Callable[..., Awaitable[Org]]


async def test_a_sandbox_without_a_ttl_gets_the_default(acme: Org) -> None:
    await register_cluster(acme)
    policy = await acme.client.send(endpoints.set_policy({"defaultTtl": "4h", "maxTtl": "1d"}))
    assert (policy.default_ttl, policy.max_ttl, policy.effective.default_ttl) == ("4h", "1d", "4h")
    created = await acme.client.send(endpoints.apply_sandbox(manifest("no-ttl")))
    assert created.spec.ttl is not None
    assert created.spec.ttl.duration == "4h"
    assert created.status.expires_at is not None
    assert created.status.expires_at - created.created_at == timedelta(hours=4)
    # An update that leaves the TTL out gets it again: it cannot make the sandbox immortal.
    updated = await acme.client.send(endpoints.apply_sandbox(manifest("no-ttl", description="v2")))
    assert updated.spec.ttl is not None
    assert updated.spec.ttl.duration == "4h"
    # A TTL within the maximum is kept as asked.
    kept = await acme.client.send(
        endpoints.apply_sandbox(manifest("short", ttl={"duration": "30m"}))
    )
    assert kept.spec.ttl is not None
    assert kept.spec.ttl.duration == "30m"


async def test_without_a_default_the_maximum_is_the_ttl(acme: Org) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.set_policy({"maxTtl": "2h"}))
    created = await acme.client.send(endpoints.apply_sandbox(manifest("capped")))
    assert created.spec.ttl is not None
    assert created.spec.ttl.duration == "2h"


async def test_a_ttl_above_the_maximum_is_refused_at_create_and_update(acme: Org) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.apply_sandbox(manifest("old", ttl={"duration": "3d"})))
    await acme.client.send(endpoints.set_policy({"maxTtl": "1d"}))
    with pytest.raises(errors.Invalid) as refused:
        await acme.client.send(endpoints.apply_sandbox(manifest("long", ttl={"duration": "2d"})))
    assert refused.value.status == 422
    assert refused.value.code == "ttl_above_maximum"
    assert refused.value.details["limit"] == "maxTtl"
    assert refused.value.details["scope"] == "organization"
    assert refused.value.details["name"] == "acme"
    assert (refused.value.details["max"], refused.value.details["value"]) == ("1d", "2d")
    assert "2d" in refused.value.message
    assert "1d" in refused.value.message
    assert (await acme.client.send(endpoints.list_sandboxes())).items[0].name == "old"
    # A sandbox made before the policy keeps its TTL until it is updated; the update must fit.
    with pytest.raises(errors.Invalid) as at_update:
        await acme.client.send(
            endpoints.apply_sandbox(manifest("old", ttl={"duration": "3d"}, description="v2"))
        )
    assert at_update.value.code == "ttl_above_maximum"
    fitted = await acme.client.send(
        endpoints.apply_sandbox(manifest("old", ttl={"duration": "1d"}, description="v2"))
    )
    assert fitted.generation == 2


async def test_a_team_narrows_the_organisation(acme: Org) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.create_team("payments"))
    await acme.client.send(
        endpoints.set_policy({"defaultTtl": "8h", "maxTtl": "1d", "maxSandboxesPerMember": 5})
    )
    # A team cannot raise the organisation's maximums.
    for raising in ({"maxTtl": "2d"}, {"defaultTtl": "30h"}, {"maxSandboxesPerMember": 6}):
        with pytest.raises(errors.Invalid) as refused:
            await acme.client.send(endpoints.set_policy(raising, team="payments"))
        assert refused.value.code == "policy_above_organization"
        assert refused.value.details["errors"][0]["loc"] == ["body", next(iter(raising))]
    team = await acme.client.send(
        endpoints.set_policy({"maxTtl": "4h", "defaultIdle": "30m"}, team="payments")
    )
    assert (team.scope, team.name, team.max_ttl, team.default_ttl) == (
        "team",
        "payments",
        "4h",
        None,
    )
    # The organisation's default is held to the team's lower maximum.
    assert team.effective.model_dump() == {
        "default_ttl": "4h",
        "max_ttl": "4h",
        "default_idle": "30m",
        "max_sandboxes_per_member": 5,
    }
    with pytest.raises(errors.Invalid) as refused:
        await acme.client.send(
            endpoints.apply_sandbox(manifest("p", team="payments", ttl={"duration": "5h"}))
        )
    assert refused.value.code == "ttl_above_maximum"
    assert (refused.value.details["scope"], refused.value.details["name"]) == ("team", "payments")
    made = await acme.client.send(endpoints.apply_sandbox(manifest("p", team="payments")))
    assert made.spec.ttl is not None
    assert made.spec.ttl.duration == "4h"
    # The default team has the organisation's policy alone.
    other = await acme.client.send(endpoints.apply_sandbox(manifest("d", ttl={"duration": "5h"})))
    assert other.spec.ttl is not None
    assert other.spec.ttl.duration == "5h"


async def test_a_default_ttl_above_its_own_maximum_is_refused(acme: Org) -> None:
    with pytest.raises(errors.Invalid) as refused:
        await acme.client.send(endpoints.set_policy({"defaultTtl": "2d", "maxTtl": "1d"}))
    assert refused.value.code == "invalid"
    assert refused.value.details["errors"][0]["loc"] == ["body", "defaultTtl"]
    for wrong in ({"maxTtl": "30s"}, {"maxTtl": "400d"}, {"defaultIdle": "soon"}):
        with pytest.raises(errors.Invalid):
            await acme.client.send(endpoints.set_policy(wrong))


async def test_a_member_holds_at_most_the_policys_sandboxes(acme: Org, runtime: Runtime) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.create_team("payments"))
    dev = await accepted_member(acme, runtime, "dev@acme.example", teams=["default", "payments"])
    other = await accepted_member(acme, runtime, "other@acme.example", teams=["default"])
    await acme.client.send(endpoints.set_policy({"maxSandboxesPerMember": 2}))
    await acme.client.send(endpoints.set_policy({"maxSandboxesPerMember": 1}, team="payments"))

    await dev.send(endpoints.apply_sandbox(manifest("dev-1", team="payments")))
    with pytest.raises(errors.Conflict) as in_team:
        await dev.send(endpoints.apply_sandbox(manifest("dev-2", team="payments")))
    assert in_team.value.status == 409
    assert in_team.value.code == "member_sandbox_limit"
    assert in_team.value.details == {
        "limit": "maxSandboxesPerMember",
        "scope": "team",
        "name": "payments",
        "max": 1,
        "member": "dev@acme.example",
    }
    await dev.send(endpoints.apply_sandbox(manifest("dev-2")))
    with pytest.raises(errors.Conflict) as in_org:
        await dev.send(endpoints.apply_sandbox(manifest("dev-3")))
    assert in_org.value.code == "member_sandbox_limit"
    assert (in_org.value.details["scope"], in_org.value.details["max"]) == ("organization", 2)
    assert "dev@acme.example" in in_org.value.message
    # An update is no new sandbox; another member holds their own; a deletion frees a place.
    await dev.send(endpoints.apply_sandbox(manifest("dev-2", description="v2")))
    await other.send(endpoints.apply_sandbox(manifest("other-1")))
    await dev.send(endpoints.delete_sandbox("dev-2"))
    await dev.send(endpoints.apply_sandbox(manifest("dev-3")))


async def test_concurrent_creates_of_one_member_stop_exactly_at_the_limit(
    acme: Org, runtime: Runtime
) -> None:
    await register_cluster(acme)
    dev = await accepted_member(acme, runtime, "dev@acme.example", teams=["default"])
    await acme.client.send(endpoints.set_policy({"maxSandboxesPerMember": 3}))

    async def create(i: int) -> str:
        try:
            await dev.send(endpoints.apply_sandbox(manifest(f"race-{i}")))
        except errors.Conflict as refused:
            return refused.code
        return "created"

    outcomes = await asyncio.gather(*(create(i) for i in range(12)))
    assert outcomes.count("created") == 3
    assert outcomes.count("member_sandbox_limit") == 9
    listed = await acme.client.send(endpoints.list_sandboxes())
    assert len(listed.items) == 3


async def test_only_admins_set_policies_and_every_member_reads_them(
    acme: Org, runtime: Runtime
) -> None:
    member = await accepted_member(acme, runtime, "dev@acme.example", teams=["default"])
    admin = await accepted_member(acme, runtime, "admin@acme.example", role="admin")
    with pytest.raises(errors.Forbidden):
        await member.send(endpoints.set_policy({"maxTtl": "1d"}))
    with pytest.raises(errors.Forbidden):
        await member.send(endpoints.set_policy({"maxTtl": "1d"}, team="default"))
    await admin.send(endpoints.set_policy({"maxTtl": "1d"}))
    read = await member.send(endpoints.get_policy())
    assert read.max_ttl == "1d"
    assert (await member.send(endpoints.get_policy(team="default"))).effective.max_ttl == "1d"
    audit = await acme.client.send(endpoints.audit(action="policy.set"))
    assert [(e.actor, e.target) for e in audit.items] == [
        ("member:admin@acme.example", "organization")
    ]


async def test_another_organisations_policy_is_out_of_reach(make_org: OrgFactory) -> None:
    acme = await make_org("acme")
    globex = await make_org("globex")
    await acme.client.send(endpoints.create_team("payments"))
    await acme.client.send(endpoints.set_policy({"maxTtl": "1d"}))
    await acme.client.send(endpoints.set_policy({"maxTtl": "4h"}, team="payments"))
    # Globex's token sees and changes only globex's policy, and no team of acme's.
    assert (await globex.client.send(endpoints.get_policy())).max_ttl is None
    with pytest.raises(errors.NotFound):
        await globex.client.send(endpoints.get_policy(team="payments"))
    with pytest.raises(errors.NotFound):
        await globex.client.send(endpoints.set_policy({"maxTtl": "1h"}, team="payments"))
    await globex.client.send(endpoints.set_policy({"maxTtl": "1h"}))
    assert (await acme.client.send(endpoints.get_policy())).max_ttl == "1d"
    assert (await acme.client.send(endpoints.get_policy(team="payments"))).max_ttl == "4h"
