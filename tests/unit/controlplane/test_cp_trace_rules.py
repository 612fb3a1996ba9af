"""Route traces' pure rules: a request's state, and who may trace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from sandboxmesh.controlplane.domain import roles, traces
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.spec.api import TraceCreate, TraceState
from sandboxmesh.spec.protocol import AssignmentBatch, TraceHop, TraceReport

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "answered", "expected"),
    [
        (timedelta(0), False, TraceState.PENDING),
        (timedelta(seconds=59), False, TraceState.PENDING),
        (timedelta(seconds=60), False, TraceState.EXPIRED),
        (timedelta(hours=2), True, TraceState.ANSWERED),
        (timedelta(seconds=1), True, TraceState.ANSWERED),
    ],
)
def test_state(age: timedelta, answered: bool, expected: TraceState) -> None:
    created = NOW - age
    assert traces.state(created_at=created, answered_at=NOW if answered else None, now=NOW) == (
        expected
    )


@pytest.mark.parametrize("role", list(Role))
def test_whoever_reads_a_sandbox_may_trace_it(role: Role) -> None:
    assert roles.may_trace_sandboxes(role) is roles.may_read_sandboxes(role) is True


@pytest.mark.parametrize("bad", ["0" * 32, "A" * 32, "a" * 31, "a" * 33, " " + "a" * 31, "g" * 32])
def test_trace_ids_are_w3c_ones(bad: str) -> None:
    with pytest.raises(ValidationError):
        TraceCreate(trace_id=bad)
    with pytest.raises(ValidationError):
        TraceReport(trace_id=bad)


def test_a_report_holds_at_most_64_bounded_hops() -> None:
    hop = TraceHop(at=1.0, service="shop/a", router="r", decision="baseline", reason="x")
    TraceReport(trace_id="a" * 32, hops=[hop] * 64)
    with pytest.raises(ValidationError):
        TraceReport(trace_id="a" * 32, hops=[hop] * 65)
    with pytest.raises(ValidationError):
        TraceHop(at=float("nan"), service="s", router="r", decision="d", reason="x")


def test_a_batch_without_trace_requests_reads_as_before() -> None:
    batch = AssignmentBatch.model_validate({"revision": 3, "resync": False, "assignments": []})
    assert batch.trace_requests is None
    with pytest.raises(ValidationError):
        AssignmentBatch.model_validate({"revision": 3, "resync": False, "surprise": []})
