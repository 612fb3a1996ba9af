"""Which baseline Deployment events change a fork (the baseline-deployments handler's rule)."""

from __future__ import annotations

import pytest

from sandboxmesh.operator.handlers import MISSING, baseline_changes_fork


@pytest.mark.parametrize(
    ("event", "snapshot", "generation", "changes"),
    [
        # A new spec since the fork's snapshot: whether watched or listed.
        ("MODIFIED", 1, 2, True),
        (None, 1, 2, True),
        # Only the baseline's status changed.
        ("MODIFIED", 2, 2, False),
        (None, 2, 2, False),
        # Coming and going always count.
        ("ADDED", 2, 2, True),
        ("DELETED", 2, 2, True),
        # The fork found no baseline; now there is one.
        ("MODIFIED", MISSING, 1, True),
        (None, MISSING, 1, True),
        # Never reconciled: a listing leaves it to its create/resume handler, an event races
        # with that first reconcile and counts.
        (None, None, 1, False),
        ("MODIFIED", None, 1, True),
    ],
)
def test_baseline_changes_fork(
    event: str | None, snapshot: object, generation: int, changes: bool
) -> None:
    assert baseline_changes_fork(event, snapshot, generation) is changes
