"""The sandbox form's fields <-> the manifest users write (DESIGN.md §2), both ways. Pure.

The form covers the common case, one fork with one image and some env; anything richer is
written as YAML. Both are checked by the same models as the API (`sandboxmesh.spec`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from sandboxmesh.controlplane.portal import untrusted_yaml
from sandboxmesh.controlplane.portal.forms import Errors

TTL_CHOICES = ["", "1h", "4h", "8h", "24h", "72h", "168h"]

_SPEC_FIELDS = {"cluster": "cluster", "team": "team", "description": "description", "ttl": "ttl"}
_FORK_FIELDS = {"namespace": "namespace", "name": "deployment", "kind": "deployment"}


def manifest_from(fields: Mapping[str, str]) -> tuple[dict[str, Any] | None, Errors]:
    """The manifest the form describes, or the errors of fields it cannot even read."""
    env: list[dict[str, str]] = []
    container = fields.get("container", "")
    for number, line in enumerate(fields.get("env", "").splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            return None, {"env": f"Line {number}: write one NAME=value per line."}
        env.append({"container": container, "name": key.strip(), "value": value})
    customizations: dict[str, Any] = {"env": env}
    if fields.get("image"):
        customizations["images"] = [{"container": container, "image": fields["image"]}]
    spec: dict[str, Any] = {
        "cluster": fields.get("cluster", ""),
        "description": fields.get("description", ""),
        "forks": [
            {
                "forkOf": {
                    "kind": "Deployment",
                    "namespace": fields.get("namespace", ""),
                    "name": fields.get("deployment", ""),
                },
                "customizations": customizations,
            }
        ],
    }
    if fields.get("team"):
        spec["team"] = fields["team"]
    if fields.get("ttl"):
        spec["ttl"] = {"duration": fields["ttl"]}
    return {"name": fields.get("name", ""), "spec": spec}, {}


def field_of(location: tuple[int | str, ...]) -> str:
    """Which form field an error of the manifest at `location` belongs to."""
    if location[:1] == ("name",):
        return "name"
    if location[:1] != ("spec",) or len(location) < 2:
        return "__all__"
    head = str(location[1])
    if head in _SPEC_FIELDS:
        return _SPEC_FIELDS[head]
    if head != "forks" or len(location) < 5:
        return "namespace" if head == "forks" else "__all__"
    part = location[3]
    if part == "forkOf":
        return _FORK_FIELDS.get(str(location[4]), "deployment")
    if part == "customizations" and location[4] == "images":
        return "image" if location[-1] == "image" else "container"
    if part == "customizations" and location[4] == "env":
        return "container" if location[-1] == "container" else "env"
    return "__all__"


def api_field_of(location: list[str | int]) -> str:
    """The field of an API-style location (`["body", "spec", "team"]`)."""
    return field_of(tuple(location[1:] if location[:1] == ["body"] else location))


def parse_yaml(text: str) -> tuple[Any, str | None]:
    """The document, or why it is not YAML or not YAML the portal takes (with the line)."""
    if not text.strip():
        return None, "Paste a sandbox manifest: name and spec."
    try:
        return untrusted_yaml.load(text), None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        if isinstance(error, untrusted_yaml.RefusedYaml):
            return None, f"This YAML is refused{where}: {error.problem}."
        return None, f"This is not valid YAML{where}."


def yaml_example(cluster: str, team: str) -> str:
    return yaml.safe_dump(
        {
            "name": "pr-42-checkout",
            "spec": {
                "cluster": cluster or "staging",
                "team": team or "default",
                "description": "PR #42",
                "ttl": {"duration": "4h"},
                "forks": [
                    {
                        "forkOf": {"kind": "Deployment", "namespace": "shop", "name": "checkout"},
                        "customizations": {
                            "images": [
                                {"container": "app", "image": "registry.example.com/checkout:pr-42"}
                            ]
                        },
                    }
                ],
            },
        },
        sort_keys=False,
    )
