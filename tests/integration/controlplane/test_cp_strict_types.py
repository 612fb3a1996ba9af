"""Where the API means a number or a boolean, it takes exactly that: `"5"` is not 5 and
`true` is not 1, in every request body (walked from the OpenAPI document)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.support.controlplane import Org, manifest, register_cluster

from sandboxmesh.client import endpoints

Path = tuple[str | int, ...]
#: Values of the wrong type that a lax parser would take, per JSON Schema type.
WRONG = {"integer": ["5", True], "number": ["5", True], "boolean": ["true", 1]}
#: What each path parameter names in the organisation the test sets up.
PATH_VALUES = {"name": "pr-1", "team": "payments", "cluster": "staging", "email": "a@b.example"}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _leaves(
    schema: dict[str, Any], components: dict[str, Any], path: Path = ()
) -> Iterator[tuple[Path, str]]:
    """(path, type) of every integer, number and boolean field under `schema`."""
    schema = _resolve(schema, components)
    for variant in schema.get("anyOf", []) + schema.get("allOf", []):
        yield from _leaves(variant, components, path)
    kind = schema.get("type")
    if kind in WRONG:
        yield path, kind
    elif kind == "object":
        for name, sub in schema.get("properties", {}).items():
            yield from _leaves(sub, components, (*path, name))
    elif kind == "array" and "items" in schema:
        yield from _leaves(schema["items"], components, (*path, 0))


def _body_at(path: Path, value: Any) -> Any:
    """The smallest body holding `value` at `path` (other fields missing: their errors are
    not the ones looked for)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    inner = _body_at(rest, value)
    return [inner] if isinstance(head, int) else {head: inner}


def _cases(app: FastAPI) -> list[tuple[str, str, Path, Any]]:
    document = app.openapi()
    components = document["components"]["schemas"]
    found = []
    for route, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            schema = body["content"]["application/json"]["schema"]
            for path, kind in _leaves(schema, components):
                for wrong in WRONG[kind]:
                    found.append((method.upper(), route.format(**PATH_VALUES), path, wrong))
    return found


@pytest.fixture
async def tokens(acme: Org) -> dict[str, str]:
    cluster_token = await register_cluster(acme)
    await acme.client.send(endpoints.create_team("payments"))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    return {"user": acme.token, "agent": cluster_token}


async def test_every_number_and_boolean_field_refuses_strings_and_the_other_type(
    app: FastAPI, transport: httpx.ASGITransport, tokens: dict[str, str]
) -> None:
    cases = _cases(app)
    # The walk reaches the fields it is about (a schema change must not empty it).
    walked = {(route, path) for _, route, path, _ in cases}
    assert ("/api/v1/organization/quota", ("maxSandboxes",)) in walked
    assert ("/api/v1/tokens", ("expiresInDays",)) in walked
    assert ("/api/v1/agent/status", ("reports", 0, "status", "ready")) in walked
    accepted = []
    async with httpx.AsyncClient(transport=transport, base_url="http://cp") as http:
        for method, route, path, wrong in cases:
            token = tokens["agent" if route.startswith("/api/v1/agent/") else "user"]
            response = await http.request(
                method,
                route,
                json=_body_at(path, wrong),
                headers={"Authorization": f"Bearer {token}"},
            )
            located = (
                [tuple(e["loc"]) for e in response.json()["details"].get("errors", [])]
                if response.status_code == 422
                else []
            )
            if ("body", *path) not in located:
                accepted.append(f"{method} {route} {'.'.join(map(str, path))}={wrong!r}")
    assert not accepted, "taken as numbers or booleans:\n" + "\n".join(accepted)
