"""The operator's log lines, as kopf writes them through our JSON log configuration."""

from __future__ import annotations

import json

import kopf
import pytest
from kopf._core.actions.loggers import ObjectLogger

from sandboxmesh import logs


def test_a_kopf_object_line_names_its_object_without_kopfs_settings(
    capfd: pytest.CaptureFixture[str], restored_logging: None
) -> None:
    logs.configure("INFO", json=True)
    body = kopf.Body(
        {
            "apiVersion": "sandboxmesh.io/v1alpha1",
            "kind": "Sandbox",
            "metadata": {"name": "pr-42", "uid": "u-1"},
        }
    )
    # kopf's own per-object logger, as its handlers log ("Handler 'x' succeeded.").
    ObjectLogger(body=body, settings=kopf.OperatorSettings()).info("Handler 'create' succeeded.")
    (line,) = capfd.readouterr().err.splitlines()
    record = json.loads(line)
    assert record["message"] == "Handler 'create' succeeded."
    assert record["k8s_ref"]["name"] == "pr-42"
    assert "settings" not in record  # about 2 KB of kopf's internals, on every line
    assert len(line) < 500
