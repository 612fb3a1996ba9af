"""The lifetime policy's pure rules: narrowing, what applies, what a spec breaks, and the
per-member limit inside the quota decision."""

from __future__ import annotations

import pytest

from sandboxmesh.controlplane.domain import lifetime_policy as lp
from sandboxmesh.controlplane.domain import quota
from sandboxmesh.spec import SandboxSpec

HOUR = 3600
DAY = 86400


def _spec(**extra: object) -> SandboxSpec:
    return SandboxSpec.model_validate(
        {
            "cluster": "staging",
            "forks": [{"forkOf": {"kind": "Deployment", "namespace": "shop", "name": "app"}}],
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(60, "1m"), (DAY, "1d"), (HOUR + 30 * 60, "1h30m"), (DAY + 1, "1d1s"), (0, "0s")],
)
def test_durations_print_as_the_spec_writes_them(seconds: int, text: str) -> None:
    assert lp.format_duration(seconds) == text


def test_a_team_may_only_narrow() -> None:
    org = lp.LifetimePolicy(max_ttl=DAY, max_sandboxes_per_member=3)
    assert lp.narrowing_problems(org, lp.LifetimePolicy(max_ttl=HOUR, default_ttl=HOUR)) == []
    problems = lp.narrowing_problems(
        org, lp.LifetimePolicy(max_ttl=2 * DAY, default_ttl=2 * DAY, max_sandboxes_per_member=4)
    )
    assert [p.field for p in problems] == [
        lp.Field.MAX_TTL,
        lp.Field.DEFAULT_TTL,
        lp.Field.MAX_SANDBOXES_PER_MEMBER,
    ]
    assert "2d" in problems[0].message
    assert "1d" in problems[0].message
    # Without an organisation maximum, a team sets what it likes.
    assert lp.narrowing_problems(lp.LifetimePolicy(), lp.LifetimePolicy(max_ttl=300 * DAY)) == []


def test_a_default_above_its_own_maximum_is_a_problem() -> None:
    assert lp.policy_problems(lp.LifetimePolicy(default_ttl=DAY, max_ttl=DAY)) == []
    [problem] = lp.policy_problems(lp.LifetimePolicy(default_ttl=2 * DAY, max_ttl=DAY))
    assert problem.field is lp.Field.DEFAULT_TTL


def test_the_effective_policy_takes_the_lower_maximum_and_the_nearer_default() -> None:
    org = lp.LifetimePolicy(default_ttl=8 * HOUR, max_ttl=DAY, default_idle=HOUR)
    team = lp.LifetimePolicy(max_ttl=4 * HOUR, max_sandboxes_per_member=2)
    effective = lp.effective(org, "acme", team, "payments")
    assert effective.max_ttl == lp.Bound(4 * HOUR, lp.Scope.TEAM, "payments")
    # The organisation's default is held to the team's maximum, named as the team's.
    assert effective.default_ttl == lp.Bound(4 * HOUR, lp.Scope.TEAM, "payments")
    assert effective.default_idle == lp.Bound(HOUR, lp.Scope.ORGANIZATION, "acme")
    assert effective.member_limit_org is None
    assert effective.member_limit_team == lp.Bound(2, lp.Scope.TEAM, "payments")
    own_default = lp.effective(org, "acme", lp.LifetimePolicy(default_ttl=HOUR), "payments")
    assert own_default.default_ttl == lp.Bound(HOUR, lp.Scope.TEAM, "payments")
    assert lp.effective(lp.LifetimePolicy(), "acme", lp.LifetimePolicy(), "t") == lp.Effective()


def test_a_spec_under_the_policy() -> None:
    policy = lp.effective(
        lp.LifetimePolicy(default_ttl=HOUR, max_ttl=DAY), "acme", lp.LifetimePolicy(), "t"
    )
    given = lp.spec_under(policy, _spec())
    assert isinstance(given, SandboxSpec)
    assert given.ttl is not None
    assert given.ttl.duration == "1h"
    asked = _spec(ttl={"duration": "12h", "offsetFrom": "updatedAt"})
    assert lp.spec_under(policy, asked) is asked
    refused = lp.spec_under(policy, _spec(ttl={"duration": "2d"}))
    assert refused == lp.TtlAboveMaximum(2 * DAY, lp.Bound(DAY, lp.Scope.ORGANIZATION, "acme"))
    assert isinstance(refused, lp.TtlAboveMaximum)
    assert refused.describe() == (
        "spec.ttl.duration 2d is above the maximum TTL 1d that the organization 'acme' allows"
    )
    # No policy: the spec as it is, without a TTL.
    bare = _spec()
    assert lp.spec_under(lp.Effective(), bare) is bare


def _counters(held: dict[tuple[str, int], int]) -> quota.Counters:
    return quota.Counters(
        organization=quota.Count("acme", 0, 100),
        teams={1: quota.Count("default", 0, None), 2: quota.Count("payments", 0, None)},
        clusters=frozenset({9}),
        held=held,
    )


def test_the_member_limit_counts_the_organisation_and_the_team() -> None:
    def of_a(team_id: int) -> quota.Wanted:
        team_max = 1 if team_id == 2 else None
        return quota.Wanted(
            team_id, 9, holder="member:a", member_max_org=4, member_max_team=team_max
        )

    wanted = [of_a(1), of_a(2), of_a(2), of_a(1), of_a(1)]
    wanted.append(quota.Wanted(1, 9, holder="member:b", member_max_org=4))
    verdicts = quota.decide(_counters({("member:a", 1): 1}), wanted)
    team_full = quota.Refused(
        quota.Refusal.MEMBER_FULL, quota.Limit(quota.LimitScope.TEAM, "payments", 1)
    )
    # a held 1; then 2, 3 (one in payments), refused in payments, 4, then the organisation's 4.
    org_full = quota.Refused(
        quota.Refusal.MEMBER_FULL, quota.Limit(quota.LimitScope.ORGANIZATION, "acme", 4)
    )
    accepted = quota.Accepted()
    assert verdicts == [accepted, accepted, team_full, accepted, org_full, accepted]


def test_without_a_member_limit_what_one_holds_does_not_matter() -> None:
    verdicts = quota.decide(
        _counters({("member:a", 1): 50}), [quota.Wanted(1, 9, holder="member:a")]
    )
    assert verdicts == [quota.Accepted()]
