"""The only way conditions change: small pure helpers over the list keyed by type."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sandboxmesh.spec.routegroup import RouteGroupConditionType
from sandboxmesh.spec.status import Condition, ConditionStatus, ConditionType

#: The condition types of a Sandbox, and of a RouteGroup.
AnyConditionType = ConditionType | RouteGroupConditionType


def find(conditions: Sequence[Condition], type_: ConditionType | str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: Sequence[Condition], type_: ConditionType | str) -> bool:
    found = find(conditions, type_)
    return found is not None and found.status == "True"


def set_condition(
    conditions: Sequence[Condition],
    type_: AnyConditionType,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    now: datetime,
    observed_generation: int | None = None,
) -> list[Condition]:
    """A new list with `type_` set; lastTransitionTime moves only when the status changes."""
    previous = find(conditions, type_)
    transition = (
        previous.last_transition_time if previous is not None and previous.status == status else now
    )
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=observed_generation,
    )
    kept = [c for c in conditions if c.type != type_]
    return sorted([*kept, updated], key=lambda c: _ORDER.get(c.type, len(_ORDER)))


def mark_true(
    conditions: Sequence[Condition],
    type_: AnyConditionType,
    reason: str,
    message: str = "",
    *,
    now: datetime,
    observed_generation: int | None = None,
) -> list[Condition]:
    return set_condition(
        conditions,
        type_,
        "True",
        reason,
        message,
        now=now,
        observed_generation=observed_generation,
    )


def mark_false(
    conditions: Sequence[Condition],
    type_: AnyConditionType,
    reason: str,
    message: str = "",
    *,
    now: datetime,
    observed_generation: int | None = None,
) -> list[Condition]:
    return set_condition(
        conditions,
        type_,
        "False",
        reason,
        message,
        now=now,
        observed_generation=observed_generation,
    )


# A stable order keeps `kubectl describe` readable and status patches minimal.
_ORDER = {t.value: i for i, t in enumerate([*ConditionType, *RouteGroupConditionType])}
