"""Quota decisions, pure: which creates of a batch fit the limits, and how to name a refusal.

`decide(counters, batch)` is the one place the quota rule is written. Both stores call it on
the counters they read under lock (repository/sandbox_creates.py), with every create that
goes into one transaction: a whole batch of one organisation's creates on PostgreSQL, a batch
of one on SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class LimitScope(StrEnum):
    ORGANIZATION = "organization"
    TEAM = "team"


@dataclass(frozen=True)
class Limit:
    """A limit on concurrent sandboxes; `max` None means the scope has no limit of its own."""

    scope: LimitScope
    name: str
    max: int | None

    def describe(self) -> str:
        return f"the {self.scope.value} {self.name!r} allows at most {self.max} sandboxes"


@dataclass(frozen=True)
class Count:
    """How many sandboxes a scope (an organisation, a team) has, and its limit."""

    name: str
    active: int
    max: int | None  # None: no limit of its own (a team; an organisation always has one)


@dataclass(frozen=True)
class Counters:
    """What a batch is decided on, read under lock: the organisation's count, and the teams
    and clusters of the batch that still exist (a create naming another is refused).
    `organization` is None only when none of them exists: nothing is then read."""

    organization: Count | None
    teams: Mapping[int, Count] = field(default_factory=dict)
    clusters: frozenset[int] = frozenset()
    #: Live sandboxes per (holder, team id), for the holders of the batch's creates that a
    #: per-member limit applies to (domain/lifetime_policy.py); read under the same lock.
    held: Mapping[tuple[str, int], int] = field(default_factory=dict)


@dataclass(frozen=True)
class Wanted:
    """One create of a batch: the ids of its team and cluster; who will hold it and the
    per-member limits of its organisation (across it) and its team (within it)."""

    team_id: int
    cluster_id: int
    holder: str = ""
    member_max_org: int | None = None
    member_max_team: int | None = None

    @property
    def member_limited(self) -> bool:
        return self.member_max_org is not None or self.member_max_team is not None


class Refusal(StrEnum):
    """Why a create is not made (nothing of it is written)."""

    TARGET_GONE = "target_gone"  # its team or cluster was deleted after it was read
    ORGANIZATION_FULL = "organization_full"
    TEAM_FULL = "team_full"
    MEMBER_FULL = "member_full"  # its holder holds the most a lifetime policy allows


@dataclass(frozen=True)
class Accepted:
    """The create fits: it counts against its organisation and its team."""


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    #: The limit the create would break (None: its team or cluster is gone). For MEMBER_FULL,
    #: the scope that set the per-member limit and that limit.
    limit: Limit | None = None


Verdict = Accepted | Refused


def decide(counters: Counters, batch: Sequence[Wanted]) -> list[Verdict]:
    """A verdict per create of `batch`, in order, each decided as if the creates before it
    had been made one at a time: refused when its team or cluster is gone, then when the
    organisation is full, then when its team is, then when its holder holds the most its
    organisation's or its team's per-member limit allows; accepted otherwise, and counted."""
    organization = counters.organization
    org_active = 0 if organization is None else organization.active
    team_active = {team_id: team.active for team_id, team in counters.teams.items()}
    held = dict(counters.held)
    verdicts: list[Verdict] = []
    for wanted in batch:
        team = counters.teams.get(wanted.team_id)
        if organization is None or team is None or wanted.cluster_id not in counters.clusters:
            verdicts.append(Refused(Refusal.TARGET_GONE))
        elif organization.max is None or org_active >= organization.max:
            # An organisation without a limit is full rather than unlimited.
            limit = Limit(LimitScope.ORGANIZATION, organization.name, organization.max)
            verdicts.append(Refused(Refusal.ORGANIZATION_FULL, limit))
        elif team.max is not None and team_active[wanted.team_id] >= team.max:
            verdicts.append(Refused(Refusal.TEAM_FULL, Limit(LimitScope.TEAM, team.name, team.max)))
        elif (over := _member_over(wanted, held, organization.name, team.name)) is not None:
            verdicts.append(Refused(Refusal.MEMBER_FULL, over))
        else:
            org_active += 1
            team_active[wanted.team_id] += 1
            key = (wanted.holder, wanted.team_id)
            held[key] = held.get(key, 0) + 1
            verdicts.append(Accepted())
    return verdicts


def _member_over(
    wanted: Wanted, held: Mapping[tuple[str, int], int], org_name: str, team_name: str
) -> Limit | None:
    """The per-member limit `wanted` would break, the organisation's first, or None."""
    if not wanted.member_limited:
        return None
    in_org = sum(count for (holder, _), count in held.items() if holder == wanted.holder)
    if wanted.member_max_org is not None and in_org >= wanted.member_max_org:
        return Limit(LimitScope.ORGANIZATION, org_name, wanted.member_max_org)
    in_team = held.get((wanted.holder, wanted.team_id), 0)
    if wanted.member_max_team is not None and in_team >= wanted.member_max_team:
        return Limit(LimitScope.TEAM, team_name, wanted.member_max_team)
    return None
