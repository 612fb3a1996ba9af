"""The agent reports a Sandbox object's status only when the control plane can take it."""

from __future__ import annotations

from typing import Any

import pytest

from sandboxmesh.agent import objects


def _sandbox(transition: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "pr-1",
            "generation": 3,
            "annotations": {objects.ANNOTATION_GENERATION: "2"},
        },
        "status": {
            "phase": "Ready",
            "ready": True,
            "observedGeneration": 3,
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": transition}],
        },
    }


def test_a_status_is_reported_with_the_control_planes_generation() -> None:
    report = objects.status_report(_sandbox("2026-01-01T00:00:00Z"))
    assert report is not None
    assert (report.name, report.observed_generation) == ("pr-1", 2)


@pytest.mark.parametrize("transition", ["0001-01-01T00:00:00+23:59", "2026-01-01T00:00:00"])
def test_a_status_the_control_plane_would_refuse_is_not_reported(transition: str) -> None:
    # Sent, its 422 would refuse the whole batch, again and again, with every other report.
    assert objects.status_report(_sandbox(transition)) is None
