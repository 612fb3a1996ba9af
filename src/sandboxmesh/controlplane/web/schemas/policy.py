"""Lifetime policies as the API shows them, built from the use case's view."""

from __future__ import annotations

from sandboxmesh.controlplane.domain.lifetime_policy import (
    Bound,
    LifetimePolicy,
    format_duration,
)
from sandboxmesh.controlplane.usecases.policies import PolicyView
from sandboxmesh.spec import names
from sandboxmesh.spec.api.policy import (
    LifetimePolicyPublic,
    LifetimePolicyUpdate,
    LifetimePolicyValues,
)

__all__ = [
    "LifetimePolicyPublic",
    "LifetimePolicyUpdate",
    "LifetimePolicyValues",
    "policy_from_update",
    "policy_public",
]


def _duration(seconds: int | None) -> str | None:
    return None if seconds is None else format_duration(seconds)


def _seconds(text: str | None) -> int | None:
    return None if text is None else names.duration_seconds(text)


def _bound_duration(bound: Bound | None) -> str | None:
    return None if bound is None else format_duration(bound.value)


def policy_from_update(body: LifetimePolicyUpdate) -> LifetimePolicy:
    return LifetimePolicy(
        default_ttl=_seconds(body.default_ttl),
        max_ttl=_seconds(body.max_ttl),
        default_idle=_seconds(body.default_idle),
        max_sandboxes_per_member=body.max_sandboxes_per_member,
    )


def policy_public(view: PolicyView) -> LifetimePolicyPublic:
    effective = view.effective
    member_limits = [
        bound.value
        for bound in (effective.member_limit_org, effective.member_limit_team)
        if bound is not None
    ]
    return LifetimePolicyPublic(
        scope=view.scope.value,
        name=view.name,
        default_ttl=_duration(view.own.default_ttl),
        max_ttl=_duration(view.own.max_ttl),
        default_idle=_duration(view.own.default_idle),
        max_sandboxes_per_member=view.own.max_sandboxes_per_member,
        effective=LifetimePolicyValues(
            default_ttl=_bound_duration(effective.default_ttl),
            max_ttl=_bound_duration(effective.max_ttl),
            default_idle=_bound_duration(effective.default_idle),
            max_sandboxes_per_member=min(member_limits) if member_limits else None,
        ),
    )
