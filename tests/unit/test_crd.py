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


@pytest.mark.parametrize("plural", sorted(crd.MANIFESTS))
@pytest.mark.parametrize("where", ["deploy/crds", "deploy/helm/sandboxmesh/crds"])
def test_checked_in_crd_is_generated_from_the_models(plural: str, where: str) -> None:
    path = ROOT / where / f"{plural}.sandboxmesh.io.yaml"
    assert path.read_text() == crd.crd_yaml(plural), (
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


@pytest.mark.parametrize("manifest", crd.all_manifests(), ids=list(crd.MANIFESTS))
def test_schema_is_structural(manifest: dict[str, Any]) -> None:
    schema = manifest["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
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


def test_route_groups_are_cluster_scoped_with_a_status_and_their_key_shown() -> None:
    manifest = crd.route_group_crd_manifest()
    assert manifest["metadata"]["name"] == "routegroups.sandboxmesh.io"
    assert manifest["spec"]["scope"] == "Cluster"
    version = manifest["spec"]["versions"][0]
    assert (version["name"], version["subresources"]) == ("v1alpha1", {"status": {}})
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Routing-Key", "Conflict", "Age"]
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]
