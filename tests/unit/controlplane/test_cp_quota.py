"""`quota.decide`, the one quota rule: examples, then properties over random batches.

The properties say what the rule promises without writing it a second time: a batch is
decided as its creates one at a time would be (each with the counters the ones before it
left), no limit is ever passed, and a refusal names the limit that was reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from sandboxmesh.controlplane.domain import quota
from sandboxmesh.controlplane.domain.quota import (
    Accepted,
    Count,
    Counters,
    Limit,
    LimitScope,
    Refusal,
    Refused,
    Wanted,
)

BLUE, RED, GONE_TEAM = 1, 2, 9
STAGING, PROD, GONE_CLUSTER = 10, 11, 19


def _counters(org_active: int, org_max: int | None, **teams: tuple[int, int | None]) -> Counters:
    ids = {"blue": BLUE, "red": RED}
    return Counters(
        organization=Count("acme", org_active, org_max),
        teams={ids[name]: Count(name, active, most) for name, (active, most) in teams.items()},
        clusters=frozenset({STAGING, PROD}),
    )


def _reasons(verdicts: Sequence[quota.Verdict]) -> list[str]:
    return ["created" if isinstance(v, Accepted) else v.reason.value for v in verdicts]


def test_creates_fill_the_team_then_the_organisation() -> None:
    counters = _counters(0, 3, blue=(0, 1), red=(0, None))
    batch = [Wanted(BLUE, STAGING), Wanted(BLUE, PROD), Wanted(RED, STAGING)] + [
        Wanted(RED, PROD)
    ] * 2
    assert _reasons(quota.decide(counters, batch)) == [
        "created",
        "team_full",
        "created",
        "created",
        "organization_full",
    ]


def test_a_gone_target_is_refused_first_and_counts_nothing() -> None:
    counters = _counters(4, 5, blue=(0, None))
    batch = [
        Wanted(GONE_TEAM, STAGING),
        Wanted(BLUE, GONE_CLUSTER),
        Wanted(BLUE, STAGING),
        Wanted(GONE_TEAM, GONE_CLUSTER),
    ]
    assert _reasons(quota.decide(counters, batch)) == [
        "target_gone",
        "target_gone",
        "created",
        "target_gone",
    ]


def test_a_full_organisation_is_named_before_a_full_team() -> None:
    verdicts = quota.decide(_counters(2, 2, blue=(1, 1)), [Wanted(BLUE, STAGING)])
    assert verdicts == [
        Refused(Refusal.ORGANIZATION_FULL, Limit(LimitScope.ORGANIZATION, "acme", 2))
    ]
    verdicts = quota.decide(_counters(1, 2, blue=(1, 1)), [Wanted(BLUE, STAGING)])
    assert verdicts == [Refused(Refusal.TEAM_FULL, Limit(LimitScope.TEAM, "blue", 1))]


def test_an_organisation_without_a_limit_is_full_rather_than_unlimited() -> None:
    verdicts = quota.decide(_counters(0, None, blue=(0, None)), [Wanted(BLUE, STAGING)])
    assert verdicts == [
        Refused(Refusal.ORGANIZATION_FULL, Limit(LimitScope.ORGANIZATION, "acme", None))
    ]


def test_nothing_read_means_every_target_is_gone() -> None:
    verdicts = quota.decide(Counters(organization=None), [Wanted(BLUE, STAGING)] * 2)
    assert verdicts == [Refused(Refusal.TARGET_GONE)] * 2


def test_counts_over_a_lowered_limit_refuse_every_create() -> None:
    verdicts = quota.decide(_counters(7, 5, blue=(7, None)), [Wanted(BLUE, STAGING)])
    assert _reasons(verdicts) == ["organization_full"]
    verdicts = quota.decide(_counters(3, 5, blue=(3, 2)), [Wanted(BLUE, STAGING)])
    assert _reasons(verdicts) == ["team_full"]


# --- properties ---------------------------------------------------------------------------------

_limits = st.none() | st.integers(min_value=0, max_value=6)
_counts = st.integers(min_value=0, max_value=6)
_counters_drawn = st.builds(
    lambda org_active, org_max, blue, red: _counters(org_active, org_max, blue=blue, red=red),
    _counts,
    _limits,
    st.tuples(_counts, _limits),
    st.tuples(_counts, _limits),
)
_batches = st.lists(
    st.builds(
        Wanted,
        st.sampled_from([BLUE, BLUE, RED, GONE_TEAM]),
        st.sampled_from([STAGING, PROD, PROD, GONE_CLUSTER]),
    ),
    max_size=20,
)


def _after(counters: Counters, wanted: Wanted) -> Counters:
    """`counters` once `wanted` was made."""
    assert counters.organization is not None
    team = counters.teams[wanted.team_id]
    return replace(
        counters,
        organization=replace(counters.organization, active=counters.organization.active + 1),
        teams={**counters.teams, wanted.team_id: replace(team, active=team.active + 1)},
    )


@given(_counters_drawn, _batches)
def test_a_batch_is_decided_as_one_create_after_another(
    counters: Counters, batch: list[Wanted]
) -> None:
    one_by_one: list[quota.Verdict] = []
    current = counters
    for wanted in batch:
        (verdict,) = quota.decide(current, [wanted])
        one_by_one.append(verdict)
        if isinstance(verdict, Accepted):
            current = _after(current, wanted)
    assert quota.decide(counters, batch) == one_by_one


@given(_counters_drawn, _batches)
def test_no_limit_is_passed_and_every_refusal_names_the_limit_reached(
    counters: Counters, batch: list[Wanted]
) -> None:
    verdicts = quota.decide(counters, batch)
    organization = counters.organization
    assert organization is not None
    org_made = 0
    team_made = dict.fromkeys(counters.teams, 0)
    for wanted, verdict in zip(batch, verdicts, strict=True):
        team = counters.teams.get(wanted.team_id)
        if team is None or wanted.cluster_id not in counters.clusters:
            assert verdict == Refused(Refusal.TARGET_GONE)
            continue
        org_room = 0 if organization.max is None else organization.max - organization.active
        team_room = None if team.max is None else team.max - team.active
        if isinstance(verdict, Accepted):
            org_made += 1
            team_made[wanted.team_id] += 1
            assert org_made <= org_room
            assert team_room is None or team_made[wanted.team_id] <= team_room
        elif verdict.reason is Refusal.ORGANIZATION_FULL:
            assert org_made >= org_room
            assert verdict.limit == Limit(LimitScope.ORGANIZATION, "acme", organization.max)
        else:
            assert verdict.reason is Refusal.TEAM_FULL
            assert org_made < org_room
            assert team_room is not None
            assert team_made[wanted.team_id] >= team_room
            assert verdict.limit == Limit(LimitScope.TEAM, team.name, team.max)
