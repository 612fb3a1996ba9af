"""The Sandbox and RouteGroup CRDs (DESIGN.md §4), generated from the pydantic models.

`python -m sandboxmesh.spec.crd [PLURAL]` prints a manifest checked into deploy/; a test fails when
the two differ, so the models stay the single source of the schema.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import yaml
from pydantic import BaseModel, Field

from sandboxmesh.spec import names
from sandboxmesh.spec.routegroup import RouteGroupResourceSpec, RouteGroupStatus
from sandboxmesh.spec.sandbox import SandboxSpec
from sandboxmesh.spec.status import SandboxStatus

GROUP = "sandboxmesh.io"
VERSION = "v1alpha1"
KIND = "Sandbox"
PLURAL = "sandboxes"
SINGULAR = "sandbox"
API_VERSION = f"{GROUP}/{VERSION}"
CRD_NAME = f"{PLURAL}.{GROUP}"
ROUTE_GROUP_KIND = "RouteGroup"
ROUTE_GROUP_PLURAL = "routegroups"
ROUTE_GROUP_SINGULAR = "routegroup"
ROUTE_GROUP_CRD_NAME = f"{ROUTE_GROUP_PLURAL}.{GROUP}"

# Labels every generated object carries (DESIGN.md §4).
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "sandboxmesh"
LABEL_SANDBOX = "sandboxmesh.io/sandbox"


class SandboxResourceSpec(SandboxSpec):
    """The spec of the Sandbox CR: the user's spec plus what the control plane issued."""

    routing_key: names.RoutingKey = Field(
        description="The key that routes a request to this sandbox's forks."
    )


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A structural OpenAPI v3 schema for `model`, as the API server requires it.

    pydantic writes JSON Schema 2020-12; Kubernetes wants OpenAPI v3.0 without references:
    `$ref` is inlined, `anyOf [X, null]` becomes `nullable`, titles and
    `additionalProperties: false` go (the API server prunes and, with strict field
    validation, rejects unknown fields itself), and typed dicts become
    `additionalProperties` with the value's schema.
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _structural(raw, defs)
    return schema


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    any_of = node.get("anyOf")
    if any_of is not None:
        variants = [v for v in any_of if v.get("type") != "null"]
        if len(variants) == 1 and len(any_of) == 2:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            return {**_structural(variants[0], defs), **_structural(rest, defs), "nullable": True}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$schema"):
            continue
        if key == "additionalProperties" and value is False:
            continue
        if key == "default" and value is None:
            continue
        if key == "propertyNames":
            continue  # not structural; the API validates keys of user labels instead
        if key == "patternProperties":
            # A typed dict: structural schemas express it as additionalProperties.
            (value_schema,) = value.values()
            out["additionalProperties"] = _structural(value_schema, defs)
        elif key == "properties":
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = _structural(value, defs)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def crd_manifest() -> dict[str, Any]:
    """The Sandbox CRD."""
    return _crd(
        kind=KIND,
        plural=PLURAL,
        singular=SINGULAR,
        short_names=["sbx"],
        spec=openapi_schema(SandboxResourceSpec),
        status=openapi_schema(SandboxStatus),
        columns=[
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready"},
            {"name": "Routing-Key", "type": "string", "jsonPath": ".spec.routingKey"},
        ],
        description="A preview environment: forks of baseline workloads reached by a routing key.",
    )


def route_group_crd_manifest() -> dict[str, Any]:
    """The RouteGroup CRD (spec.routegroup)."""
    return _crd(
        kind=ROUTE_GROUP_KIND,
        plural=ROUTE_GROUP_PLURAL,
        singular=ROUTE_GROUP_SINGULAR,
        short_names=["rg"],
        spec=openapi_schema(RouteGroupResourceSpec),
        status=openapi_schema(RouteGroupStatus),
        columns=[
            {"name": "Routing-Key", "type": "string", "jsonPath": ".spec.routingKey"},
            {
                "name": "Conflict",
                "type": "string",
                "jsonPath": '.status.conditions[?(@.type=="Conflict")].status',
            },
        ],
        description="One routing key across the sandboxes a label selector matches.",
    )


def _crd(
    *,
    kind: str,
    plural: str,
    singular: str,
    short_names: list[str],
    spec: dict[str, Any],
    status: dict[str, Any],
    columns: list[dict[str, str]],
    description: str,
) -> dict[str, Any]:
    # Conditions are a map keyed by type, so server-side apply merges them per type.
    conditions = status["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    age = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {LABEL_MANAGED_BY: MANAGED_BY},
        },
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": short_names,
                "categories": ["sandboxmesh"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [*columns, age],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


#: Every CRD of the project, by plural: `python -m sandboxmesh.spec.crd PLURAL` prints one.
MANIFESTS = {PLURAL: crd_manifest, ROUTE_GROUP_PLURAL: route_group_crd_manifest}


def all_manifests() -> list[dict[str, Any]]:
    """Every CRD of the project, as a cluster installs them."""
    return [manifest() for manifest in MANIFESTS.values()]


def crd_yaml(plural: str = PLURAL) -> str:
    command = "python -m sandboxmesh.spec.crd" + ("" if plural == PLURAL else f" {plural}")
    header = f"# Generated by `{command}` from sandboxmesh.spec: do not edit.\n"
    return header + yaml.safe_dump(MANIFESTS[plural](), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(crd_yaml(*sys.argv[1:2]))
