"""The CRD in deploy/ is the one the models generate, and it is a structural schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sandboxmesh.spec import crd

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "deploy" / "crds" / "sandboxes.sandboxmesh.io.yaml"
IN_THE_CHART = ROOT / "deploy" / "helm" / "sandboxmesh" / "crds" / "sandboxes.sandboxmesh.io.yaml"


@pytest.mark.parametrize("path", [CHECKED_IN, IN_THE_CHART], ids=["deploy", "chart"])
def test_checked_in_crd_is_generated_from_the_models(path: Path) -> None:
    assert path.read_text() == crd.crd_yaml(), (
        f"{path.relative_to(ROOT)} is stale: run `make crds` (python -m sandboxmesh.spec.crd)"
    )


def _walk(node: Any, path: str = "") -> list[str]:
    """Paths of anything a structural schema forbids."""
    problems: list[str] = []
    if isinstance(node, dict):
        for forbidden in (
            "$ref",
            "anyOf",
            "oneOf",
            "allOf",
            "$defs",
            "patternProperties",
            "propertyNames",
            "const",
            "title",
        ):
            if forbidden in node:
                problems.append(f"{path}/{forbidden}")
        if node.get("additionalProperties") is False:
            problems.append(f"{path}/additionalProperties")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties with additionalProperties")
        if "properties" in node and node.get("type") != "object":
            problems.append(f"{path}: properties without type object")
        for key, value in node.items():
            problems += _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            problems += _walk(value, f"{path}[{index}]")
    return problems


def test_schema_is_structural() -> None:
    schema = crd.crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _walk(schema) == []


def test_names_and_scope_follow_the_design() -> None:
    manifest = yaml.safe_load(CHECKED_IN.read_text())
    assert manifest["metadata"]["name"] == "sandboxes.sandboxmesh.io"
    assert manifest["spec"]["scope"] == "Cluster"
    version = manifest["spec"]["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Phase", "Ready", "Routing-Key", "Age"]
