"""The pure core of the control plane: tokens, keys, roles, plans, expiry, connection, usage."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta

import pytest

from sandboxmesh.cli import admin
from sandboxmesh.controlplane.domain import connection, expiry, metering, plans, roles, secrets
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.revisions import RevisionHub, parse_notification
from sandboxmesh.spec import SandboxSpec, names

T0 = datetime(2026, 3, 31, 22, 0, tzinfo=UTC)


def test_tokens_have_a_visible_prefix_and_are_stored_as_digests() -> None:
    issued = secrets.issue_token(secrets.TokenKind.USER)
    assert issued.plaintext.startswith(issued.prefix + "_")
    assert re.fullmatch(r"smu_[0-9a-f]{8}", issued.prefix)
    assert issued.digest == secrets.digest(issued.plaintext)
    assert issued.plaintext not in issued.digest
    assert secrets.token_kind(issued.plaintext) is secrets.TokenKind.USER
    assert secrets.token_kind(secrets.issue_token(secrets.TokenKind.CLUSTER).plaintext) is (
        secrets.TokenKind.CLUSTER
    )
    assert secrets.issue_token(secrets.TokenKind.USER).plaintext != issued.plaintext


@pytest.mark.parametrize("token", ["", "smu", "xyz_1_2", "smu_" + "a" * 300, "nounderscore"])
def test_foreign_shaped_tokens_have_no_kind(token: str) -> None:
    assert secrets.token_kind(token) is None


def test_routing_keys_follow_the_contract() -> None:
    keys = {secrets.routing_key() for _ in range(2000)}
    assert len(keys) == 2000
    for key in keys:
        assert re.fullmatch(names.ROUTING_KEY_PATTERN, key)
        assert len(key) == 16
    # Every position draws from the whole alphabet (among 2,000 keys a missing character
    # has a probability of about 1e-23).
    for position in range(16):
        assert {key[position] for key in keys} == set(string.ascii_lowercase + string.digits)


def test_roles() -> None:
    assert roles.manages_organization(Role.ADMIN)
    assert not roles.manages_organization(Role.MEMBER)
    assert roles.may_write_sandboxes(Role.MEMBER, in_team=True)
    assert not roles.may_write_sandboxes(Role.MEMBER, in_team=False)
    assert not roles.may_write_sandboxes(Role.VIEWER, in_team=True)
    assert roles.may_write_sandboxes(Role.ADMIN, in_team=False)
    assert not roles.may_grant(Role.ADMIN, Role.OWNER)
    assert roles.may_grant(Role.OWNER, Role.OWNER)
    assert roles.may_grant(Role.ADMIN, Role.ADMIN)
    assert not roles.may_grant(Role.MEMBER, Role.VIEWER)


def test_plans_give_defaults_unless_an_explicit_limit_is_set() -> None:
    assert plans.organization_limit(plans.Plan.FREE, None) == 5
    assert plans.organization_limit(plans.Plan.FREE, 9) == 9
    assert plans.organization_limit(plans.Plan.ENTERPRISE, 0) == 0
    assert {p.value for p in plans.Plan} == {p.value for p in admin.Plan}


@pytest.mark.parametrize(
    ("requested", "current", "allowed"),
    [
        (None, None, True),
        (5, None, True),
        (6, None, False),  # above the free plan's 5
        (6, 4, False),
        (150, 200, True),  # lowering a limit the installation lifted
        (200, 200, True),
        (201, 200, False),
    ],
)
def test_admins_may_set_up_to_the_plans_limit_or_lower_a_lifted_one(
    requested: int | None, current: int | None, allowed: bool
) -> None:
    refusal = plans.limit_refusal(plans.Plan.FREE, requested, current)
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.startswith("the free plan allows at most 5 sandboxes")


@pytest.mark.parametrize(
    ("old", "new", "explicit", "kept"),
    [
        (plans.Plan.ENTERPRISE, plans.Plan.FREE, 800, None),  # set within enterprise: back to 5
        (plans.Plan.ENTERPRISE, plans.Plan.FREE, 3, 3),
        (plans.Plan.FREE, plans.Plan.TEAM, 4, 4),
        (plans.Plan.TEAM, plans.Plan.FREE, 5000, 5000),  # lifted by the installation: stays
        (plans.Plan.TEAM, plans.Plan.FREE, None, None),
    ],
)
def test_a_plan_change_keeps_only_limits_the_new_plan_allows_or_the_installation_set(
    old: plans.Plan, new: plans.Plan, explicit: int | None, kept: int | None
) -> None:
    assert plans.limit_after_plan_change(old, new, explicit) == kept


def test_expiry() -> None:
    base = {"cluster": "c", "forks": [{"forkOf": {"namespace": "n", "name": "d"}}]}
    none = SandboxSpec.model_validate(base)
    assert expiry.expires_at(none, created_at=T0, updated_at=T0) is None
    created = SandboxSpec.model_validate({**base, "ttl": {"duration": "1h30m"}})
    later = T0 + timedelta(hours=5)
    assert expiry.expires_at(created, created_at=T0, updated_at=later) == T0 + timedelta(minutes=90)
    updated = SandboxSpec.model_validate(
        {**base, "ttl": {"duration": "2d", "offsetFrom": "updatedAt"}}
    )
    assert expiry.expires_at(updated, created_at=T0, updated_at=later) == later + timedelta(2)


def test_connection_state() -> None:
    stale_after = timedelta(seconds=90)
    state = connection.connection_state
    assert (
        state(None, now=T0, stale_after=stale_after) is connection.ConnectionState.NEVER_CONNECTED
    )
    assert state(T0, now=T0 + timedelta(seconds=89), stale_after=stale_after) is (
        connection.ConnectionState.CONNECTED
    )
    assert state(T0, now=T0 + timedelta(seconds=91), stale_after=stale_after) is (
        connection.ConnectionState.STALE
    )


def test_months() -> None:
    assert metering.month_bounds("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert metering.month_of(T0) == "2026-03"
    for bad in ("2026-13", "2026-1", "26-01", "2026/01", ""):
        with pytest.raises(ValueError, match="not a month"):
            metering.month_bounds(bad)


def test_a_statement_splits_lifetimes_at_month_boundaries() -> None:
    lives = [
        # 2h in March, 3h in April.
        metering.Lifetime("pay", "a", T0, T0 + timedelta(hours=5)),
        # Still running: counted up to now.
        metering.Lifetime("pay", "b", T0 + timedelta(hours=4), None),
        metering.Lifetime("web", "c", T0 - timedelta(days=40), T0 - timedelta(days=35)),
    ]
    now = T0 + timedelta(hours=6)
    march = metering.statement(lives, month="2026-03", now=now)
    assert [(t.team, t.sandboxes, t.hours) for t in march.teams] == [("pay", 1, 2.0)]
    april = metering.statement(lives, month="2026-04", now=now)
    assert [(t.team, t.sandboxes, t.hours) for t in april.teams] == [("pay", 2, 5.0)]
    assert april.total_hours == 5.0
    february = metering.statement(lives, month="2026-02", now=now)
    assert [(t.team, t.hours) for t in february.teams] == [("web", 120.0)]
    assert metering.statement_csv(april) == (
        "month,team,sandboxes,sandbox_hours\n2026-04,pay,2,5.0000\n"
    )


async def test_the_hub_wakes_waiters_and_never_misses_a_published_revision() -> None:
    import asyncio

    hub = RevisionHub()
    hub.publish(1, 5)
    assert await hub.wait_beyond(1, 4, 0.01) is True  # already past: no wait
    assert await hub.wait_beyond(1, 5, 0.01) is False  # nothing newer: times out
    waiter = asyncio.create_task(hub.wait_beyond(1, 5, 5))
    await asyncio.sleep(0)
    assert hub.waiting == 1
    hub.publish(2, 9)  # another cluster
    await asyncio.sleep(0)
    assert not waiter.done()
    hub.publish(1, 6)
    assert await waiter is True
    hub.publish(1, 3)  # an old revision arriving late changes nothing
    assert await hub.wait_beyond(1, 6, 0.01) is False


def test_notification_payloads() -> None:
    assert parse_notification("12:345") == (12, 345)
    assert parse_notification("garbage") is None
    assert parse_notification("1:x") is None
