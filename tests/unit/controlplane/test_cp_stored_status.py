"""A sandbox whose stored status no longer parses (a rule of the model tightened since it was
reported) is shown as not reported, never a failed read."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from sandboxmesh.controlplane.repository import records
from sandboxmesh.controlplane.web.schemas.sandboxes import sandbox_public

NOW = datetime(2026, 12, 7, tzinfo=UTC)
SPEC = {"cluster": "staging", "forks": [{"forkOf": {"namespace": "shop", "name": "checkout"}}]}


def _sandbox(status: dict[str, Any] | None) -> records.Sandbox:
    return records.Sandbox(
        name="pr-1", team="default", cluster="staging", spec=SPEC, generation=1,
        routing_key="abcdefghij12", status=status, observed_generation=1, phase="Ready",
        deleting=False, deletion_requested_at=None, created_by="member:a@b.example",
        created_at=NOW, updated_at=NOW, expires_at=None,
    )  # fmt: skip


def test_a_status_that_parses_is_shown_as_reported() -> None:
    shown = sandbox_public(_sandbox({"phase": "Ready", "ready": True, "message": "fine"}))
    assert shown.status is not None
    assert (shown.status.ready, shown.status.message) == (True, "fine")


def test_a_status_of_an_older_shape_is_shown_as_not_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = {
        "phase": "Ready",
        "ready": True,
        "previewUrls": [{"name": "web", "url": "https://web-x.preview.test/path",
                         "namespace": "shop", "service": "web", "port": 80}],
    }  # fmt: skip
    with caplog.at_level(logging.WARNING):
        shown = sandbox_public(_sandbox(old))
    assert shown.status is not None
    assert shown.status.ready is False
    assert shown.status.preview_urls == []
    assert "next report replaces it" in shown.status.message
    assert shown.status.routing_key == "abcdefghij12"
    assert "pr-1: its stored status does not parse" in caplog.text
