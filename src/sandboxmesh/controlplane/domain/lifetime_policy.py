"""Lifetime policy, pure: an organisation's and a team's bounds on how long sandboxes live,
how a team's narrows its organisation's, and what a manifest breaks.

A policy holds four values, each optional (None: no bound of that scope):

- `default_ttl`: the TTL a sandbox without one gets;
- `max_ttl`: the longest TTL a sandbox may ask for;
- `default_idle`: how long a sandbox may go without a keyed request before it sleeps (stored
  and shown; the scale-to-zero that reads it is a later slice, issue 17 section 2);
- `max_sandboxes_per_member`: how many live sandboxes one member may hold (have created):
  the organisation's counts across the organisation, a team's within that team.

A team's policy narrows its organisation's and never widens it (`narrowing_problems`); what
applies to a sandbox is `effective(org, team)`: the lower maximum, the team's default when it
set one, else the organisation's, never above the maximum in force.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sandboxmesh.spec import names
from sandboxmesh.spec.sandbox import MAX_TTL_DAYS, MIN_TTL_SECONDS, SandboxSpec, Ttl

#: Bounds of every duration of a policy: those of a sandbox's TTL.
MIN_SECONDS = MIN_TTL_SECONDS
MAX_SECONDS = MAX_TTL_DAYS * 86400


class Scope(StrEnum):
    ORGANIZATION = "organization"
    TEAM = "team"


class Field(StrEnum):
    """A policy's values as the API names them."""

    DEFAULT_TTL = "defaultTtl"
    MAX_TTL = "maxTtl"
    DEFAULT_IDLE = "defaultIdle"
    MAX_SANDBOXES_PER_MEMBER = "maxSandboxesPerMember"


@dataclass(frozen=True)
class LifetimePolicy:
    """One scope's policy; durations in seconds."""

    default_ttl: int | None = None
    max_ttl: int | None = None
    default_idle: int | None = None
    max_sandboxes_per_member: int | None = None


@dataclass(frozen=True)
class Bound:
    """A value in force and who set it (to name it in a refusal)."""

    value: int
    scope: Scope
    name: str

    def describe(self) -> str:
        return f"the {self.scope.value} {self.name!r}"


@dataclass(frozen=True)
class Effective:
    """What applies to the sandboxes of one team."""

    default_ttl: Bound | None = None
    max_ttl: Bound | None = None
    default_idle: Bound | None = None
    #: The organisation's per-member limit (counted across the organisation) and the team's
    #: (counted within the team): both apply.
    member_limit_org: Bound | None = None
    member_limit_team: Bound | None = None


@dataclass(frozen=True)
class Problem:
    """Why a policy cannot be stored: the field and a sentence naming the values."""

    field: Field
    message: str


def format_duration(seconds: int) -> str:
    """`seconds` in the spec's duration syntax, largest units first: 86400 -> "1d",
    5400 -> "1h30m"."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def duration_problem(field: Field, text: str) -> Problem | None:
    """A duration of a policy must parse and lie within a TTL's bounds (1m to 365d)."""
    try:
        seconds = names.duration_seconds(text)
    except ValueError as error:
        return Problem(field, str(error))
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        return Problem(field, f"{text} is not between 1m and {MAX_TTL_DAYS}d")
    return None


def policy_problems(policy: LifetimePolicy) -> list[Problem]:
    """What is wrong with `policy` on its own: a default TTL above its own maximum."""
    if (
        policy.default_ttl is not None
        and policy.max_ttl is not None
        and policy.default_ttl > policy.max_ttl
    ):
        return [
            Problem(
                Field.DEFAULT_TTL,
                f"the default TTL {format_duration(policy.default_ttl)} is above the maximum "
                f"TTL {format_duration(policy.max_ttl)}",
            )
        ]
    return []


def narrowing_problems(org: LifetimePolicy, team: LifetimePolicy) -> list[Problem]:
    """Where `team` would raise a maximum of `org`: a team narrows, never widens."""
    problems = []
    if org.max_ttl is not None:
        for field, value in ((Field.MAX_TTL, team.max_ttl), (Field.DEFAULT_TTL, team.default_ttl)):
            if value is not None and value > org.max_ttl:
                problems.append(
                    Problem(
                        field,
                        f"{format_duration(value)} is above the organisation's maximum TTL "
                        f"{format_duration(org.max_ttl)}",
                    )
                )
    if (
        org.max_sandboxes_per_member is not None
        and team.max_sandboxes_per_member is not None
        and team.max_sandboxes_per_member > org.max_sandboxes_per_member
    ):
        problems.append(
            Problem(
                Field.MAX_SANDBOXES_PER_MEMBER,
                f"{team.max_sandboxes_per_member} is above the organisation's maximum of "
                f"{org.max_sandboxes_per_member} sandboxes per member",
            )
        )
    return problems


def _bound(value: int | None, scope: Scope, name: str) -> Bound | None:
    return None if value is None else Bound(value, scope, name)


def _lower(first: Bound | None, second: Bound | None) -> Bound | None:
    if first is None or second is None:
        return first or second
    return second if second.value < first.value else first


def effective(
    org: LifetimePolicy, org_name: str, team: LifetimePolicy, team_name: str
) -> Effective:
    """What applies to the sandboxes of `team_name` in `org_name`: the lower maximum TTL;
    the team's default TTL (else the organisation's, else none) held to that maximum; the
    team's default idle time, else the organisation's; both per-member limits."""
    max_ttl = _lower(
        _bound(org.max_ttl, Scope.ORGANIZATION, org_name),
        _bound(team.max_ttl, Scope.TEAM, team_name),
    )
    default_ttl = _bound(team.default_ttl, Scope.TEAM, team_name) or _bound(
        org.default_ttl, Scope.ORGANIZATION, org_name
    )
    if default_ttl is not None and max_ttl is not None and default_ttl.value > max_ttl.value:
        default_ttl = max_ttl
    return Effective(
        default_ttl=default_ttl,
        max_ttl=max_ttl,
        default_idle=_bound(team.default_idle, Scope.TEAM, team_name)
        or _bound(org.default_idle, Scope.ORGANIZATION, org_name),
        member_limit_org=_bound(org.max_sandboxes_per_member, Scope.ORGANIZATION, org_name),
        member_limit_team=_bound(team.max_sandboxes_per_member, Scope.TEAM, team_name),
    )


@dataclass(frozen=True)
class TtlAboveMaximum:
    """A manifest's TTL is longer than the maximum in force."""

    asked: int
    maximum: Bound

    def describe(self) -> str:
        return (
            f"spec.ttl.duration {format_duration(self.asked)} is above the maximum TTL "
            f"{format_duration(self.maximum.value)} that {self.maximum.describe()} allows"
        )


def spec_under(policy: Effective, spec: SandboxSpec) -> SandboxSpec | TtlAboveMaximum:
    """`spec` as it is stored under `policy`, or why it is refused.

    A spec without a TTL gets the default TTL in force, else the maximum (a sandbox without
    a TTL would outlive any maximum), else stays without one. A TTL above the maximum is
    refused. Applied at every create and update alike, so an update cannot drop the TTL."""
    if spec.ttl is None:
        given = policy.default_ttl or policy.max_ttl
        if given is None:
            return spec
        return spec.model_copy(update={"ttl": Ttl(duration=format_duration(given.value))})
    if policy.max_ttl is not None and spec.ttl.seconds > policy.max_ttl.value:
        return TtlAboveMaximum(spec.ttl.seconds, policy.max_ttl)
    return spec
