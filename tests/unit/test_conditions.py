from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandboxmesh.spec import ConditionType, Reason, conditions

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def test_transition_time_moves_only_when_status_changes() -> None:
    first = conditions.mark_false([], ConditionType.READY, Reason.FORKS_PROGRESSING, now=T0)
    same = conditions.mark_false(
        first, ConditionType.READY, Reason.BASELINE_NOT_FOUND, "shop/checkout", now=T1
    )
    (ready,) = same
    assert ready.last_transition_time == T0
    assert ready.reason == Reason.BASELINE_NOT_FOUND
    assert ready.message == "shop/checkout"
    flipped = conditions.mark_true(same, ConditionType.READY, Reason.READY, now=T1)
    assert flipped[0].last_transition_time == T1
    assert conditions.is_true(flipped, ConditionType.READY)


def test_conditions_are_keyed_by_type_in_a_stable_order() -> None:
    result = conditions.mark_true([], ConditionType.READY, Reason.READY, now=T0)
    result = conditions.mark_true(
        result, ConditionType.BASELINE_RESOLVED, Reason.BASELINE_FOUND, now=T0
    )
    result = conditions.mark_false(
        result, ConditionType.FORKS_READY, Reason.FORKS_PROGRESSING, now=T0
    )
    result = conditions.mark_true(
        result, ConditionType.BASELINE_RESOLVED, Reason.BASELINE_FOUND, now=T1
    )
    assert [c.type for c in result] == ["BaselineResolved", "ForksReady", "Ready"]
    assert conditions.find(result, ConditionType.FORKS_READY) is not None
    assert not conditions.is_true(result, ConditionType.FORKS_READY)
