"""Lifetime policies of an organisation and of a team (docs/policy.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictInt

from sandboxmesh.spec import names
from sandboxmesh.spec.api.base import ApiModel, ApiRequest
from sandboxmesh.spec.sandbox import MAX_TTL_DAYS, MIN_TTL_SECONDS


def _within_ttl_bounds(text: str) -> str:
    seconds = names.duration_seconds(text)
    if not MIN_TTL_SECONDS <= seconds <= MAX_TTL_DAYS * 86400:
        raise ValueError(f"must be between 1m and {MAX_TTL_DAYS}d")
    return text


#: A duration of a policy: 1m to 365d, as a sandbox's TTL.
PolicyDuration = Annotated[names.Duration, AfterValidator(_within_ttl_bounds)]
MemberLimit = Annotated[StrictInt | None, Field(ge=0, le=1_000_000)]


class LifetimePolicyUpdate(ApiRequest):
    """The whole policy of a scope: a value left out or null has no bound of this scope."""

    #: The TTL a sandbox without one gets (at most the maximum TTL).
    default_ttl: PolicyDuration | None = None
    #: The longest TTL a sandbox may ask for.
    max_ttl: PolicyDuration | None = None
    #: How long a sandbox may go without a keyed request before it sleeps (stored and shown;
    #: the scale-to-zero that uses it comes later).
    default_idle: PolicyDuration | None = None
    #: The most live sandboxes one member may hold: in the organisation, or in the team.
    max_sandboxes_per_member: MemberLimit = None


class LifetimePolicyValues(ApiModel):
    default_ttl: str | None
    max_ttl: str | None
    default_idle: str | None
    max_sandboxes_per_member: int | None


class LifetimePolicyPublic(ApiModel):
    scope: Literal["organization", "team"]
    name: str
    #: The values this scope set.
    default_ttl: str | None
    max_ttl: str | None
    default_idle: str | None
    max_sandboxes_per_member: int | None
    #: What applies to the scope's sandboxes: for a team, its own narrowed by the
    #: organisation's (the lower maximum, its default else the organisation's).
    effective: LifetimePolicyValues
