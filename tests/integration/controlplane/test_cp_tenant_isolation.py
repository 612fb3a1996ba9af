"""A token of organisation B never reads or changes anything of organisation A.

The walk covers every operation of the OpenAPI document: a new endpoint without an entry
here fails `test_the_walk_covers_every_endpoint`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from tests.support import snapshots
from tests.support.controlplane import Org, manifest, register_cluster

from sandboxmesh.client import AsyncControlPlaneClient, endpoints
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.spec import Phase, SandboxStatus
from sandboxmesh.spec.protocol import (
    GoneConfirmation,
    SandboxStatusReport,
    StatusReportBatch,
)

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}


@dataclass(frozen=True)
class Visit:
    method: str
    path: str
    body: Any = None
    #: The status B must get; None: any non-5xx (B acting on its own namesakes is allowed).
    status: int | None = 404
    #: Which token: "user" (B's owner) or "agent" (B's cluster).
    token: str = "user"


def walk(a: dict[str, str]) -> dict[tuple[str, str], list[Visit]]:
    """B's requests, aimed at A's resources, per operation of the API."""
    pr = manifest("pr-a", cluster="staging-a", team="payments")
    group = {
        "name": "pr-a",
        "spec": {"cluster": "staging-b", "selector": {"matchLabels": {"owner": "a"}}},
    }
    report = StatusReportBatch(
        reports=[
            SandboxStatusReport(
                name="pr-a", observed_generation=1, status=SandboxStatus(phase=Phase.FAILED)
            )
        ],
        gone=[GoneConfirmation(name="pr-a")],
    ).model_dump(mode="json", by_alias=True)
    return {
        ("GET", "/api/v1/whoami"): [Visit("GET", "/api/v1/whoami", status=200)],
        ("GET", "/api/v1/organization"): [Visit("GET", "/api/v1/organization", status=200)],
        ("PUT", "/api/v1/organization/quota"): [
            Visit("PUT", "/api/v1/organization/quota", {"maxSandboxes": 0}, status=200)
        ],
        ("PUT", "/api/v1/organization/plan"): [
            Visit("PUT", "/api/v1/organization/plan", {"plan": "free"}, status=200)
        ],
        ("GET", "/api/v1/audit"): [Visit("GET", "/api/v1/audit", status=200)],
        ("GET", "/api/v1/organization/policy"): [
            Visit("GET", "/api/v1/organization/policy", status=200)
        ],
        ("PUT", "/api/v1/organization/policy"): [
            Visit("PUT", "/api/v1/organization/policy", {"maxTtl": "1h"}, status=200)
        ],
        ("GET", "/api/v1/teams/{team}/policy"): [Visit("GET", "/api/v1/teams/only-a/policy")],
        ("PUT", "/api/v1/teams/{team}/policy"): [
            Visit("PUT", "/api/v1/teams/only-a/policy", {"maxTtl": "1h"})
        ],
        # B's own secret: none at first, then one of its own, then gone.
        ("GET", "/api/v1/organization/webhook-secret"): [
            Visit("GET", "/api/v1/organization/webhook-secret")
        ],
        ("POST", "/api/v1/organization/webhook-secret"): [
            Visit("POST", "/api/v1/organization/webhook-secret", status=201)
        ],
        ("DELETE", "/api/v1/organization/webhook-secret"): [
            Visit("DELETE", "/api/v1/organization/webhook-secret", status=204)
        ],
        # Unsigned (B's bearer token means nothing here): A's sandboxes stay.
        ("POST", "/api/v1/webhooks/github/{org}"): [
            Visit(
                "POST",
                "/api/v1/webhooks/github/org-a",
                {"action": "closed", "number": 1},
                status=401,
            )
        ],
        ("GET", "/api/v1/usage"): [
            Visit("GET", "/api/v1/usage", status=200),
            Visit("GET", "/api/v1/usage?team=payments"),
            Visit("GET", "/api/v1/usage?format=csv", status=200),
        ],
        ("GET", "/api/v1/usage/daily"): [
            Visit("GET", "/api/v1/usage/daily", status=200),
            Visit("GET", "/api/v1/usage/daily?team=payments"),
        ],
        ("GET", "/api/v1/teams"): [Visit("GET", "/api/v1/teams", status=200)],
        ("POST", "/api/v1/teams"): [
            # B may have a team of the same name: its own, nothing of A's.
            Visit("POST", "/api/v1/teams", {"name": "payments"}, status=201)
        ],
        ("GET", "/api/v1/teams/{team}"): [Visit("GET", "/api/v1/teams/only-a")],
        ("DELETE", "/api/v1/teams/{team}"): [Visit("DELETE", "/api/v1/teams/only-a")],
        ("PUT", "/api/v1/teams/{team}/quota"): [
            Visit("PUT", "/api/v1/teams/only-a/quota", {"maxSandboxes": 0})
        ],
        ("GET", "/api/v1/members"): [Visit("GET", "/api/v1/members", status=200)],
        ("POST", "/api/v1/members"): [
            Visit("POST", "/api/v1/members", {"email": "dev@a.example", "teams": ["only-a"]})
        ],
        ("GET", "/api/v1/members/{email}"): [Visit("GET", "/api/v1/members/dev@a.example")],
        ("PATCH", "/api/v1/members/{email}"): [
            Visit("PATCH", "/api/v1/members/dev@a.example", {"role": "viewer"})
        ],
        ("DELETE", "/api/v1/members/{email}"): [
            Visit("DELETE", "/api/v1/members/dev@a.example"),
            Visit("DELETE", "/api/v1/members/owner@a.example"),
        ],
        ("GET", "/api/v1/tokens"): [
            Visit("GET", "/api/v1/tokens", status=200),
            Visit("GET", "/api/v1/tokens?all=true", status=200),
        ],
        ("POST", "/api/v1/tokens"): [Visit("POST", "/api/v1/tokens", {"name": "x"}, status=201)],
        ("DELETE", "/api/v1/tokens/{prefix}"): [
            Visit("DELETE", f"/api/v1/tokens/{a['token_prefix']}")
        ],
        ("GET", "/api/v1/clusters"): [Visit("GET", "/api/v1/clusters", status=200)],
        ("POST", "/api/v1/clusters"): [
            Visit("POST", "/api/v1/clusters", {"name": "staging-a"}, status=201)
        ],
        ("GET", "/api/v1/clusters/{cluster}"): [Visit("GET", "/api/v1/clusters/only-a")],
        ("DELETE", "/api/v1/clusters/{cluster}"): [Visit("DELETE", "/api/v1/clusters/only-a")],
        ("GET", "/api/v1/clusters/{cluster}/tokens"): [
            Visit("GET", "/api/v1/clusters/only-a/tokens")
        ],
        ("POST", "/api/v1/clusters/{cluster}/tokens/rotate"): [
            Visit("POST", "/api/v1/clusters/only-a/tokens/rotate", {})
        ],
        ("POST", "/api/v1/clusters/{cluster}/tokens/revoke"): [
            Visit("POST", "/api/v1/clusters/only-a/tokens/revoke", {}),
            Visit(
                "POST",
                "/api/v1/clusters/staging-a/tokens/revoke",
                {"prefix": a["cluster_token_prefix"]},
            ),
        ],
        ("PUT", "/api/v1/sandboxes/{name}"): [
            # Names are unique per organisation: B creating "pr-a" makes B's own sandbox.
            Visit("PUT", "/api/v1/sandboxes/pr-a", pr, status=None),
        ],
        ("GET", "/api/v1/sandboxes/{name}"): [Visit("GET", "/api/v1/sandboxes/only-a")],
        ("DELETE", "/api/v1/sandboxes/{name}"): [Visit("DELETE", "/api/v1/sandboxes/only-a")],
        ("GET", "/api/v1/sandboxes"): [
            Visit("GET", "/api/v1/sandboxes", status=200),
            Visit("GET", "/api/v1/sandboxes?team=payments&cluster=staging-a", status=200),
            Visit("GET", "/api/v1/sandboxes?label=owner=a", status=200),
        ],
        ("POST", "/api/v1/sandboxes/{name}/traces"): [
            Visit("POST", "/api/v1/sandboxes/only-a/traces", {"traceId": "ab" * 16})
        ],
        ("GET", "/api/v1/sandboxes/{name}/traces"): [
            Visit("GET", "/api/v1/sandboxes/only-a/traces")
        ],
        ("GET", "/api/v1/sandboxes/{name}/traces/{trace_id}"): [
            Visit("GET", f"/api/v1/sandboxes/only-a/traces/{a['trace_id']}")
        ],
        ("POST", "/api/v1/agent/traces"): [
            # A's trace id from B's cluster: ignored as unknown, A's request stays pending.
            Visit(
                "POST",
                "/api/v1/agent/traces",
                {"traceId": a["trace_id"], "hops": []},
                status=200,
                token="agent",
            )
        ],
        ("PUT", "/api/v1/routegroups/{name}"): [
            # Names are unique per organisation: B applying A's "pr-a" makes B's own group.
            Visit("PUT", "/api/v1/routegroups/pr-a", group, status=None),
        ],
        ("GET", "/api/v1/routegroups/{name}"): [Visit("GET", "/api/v1/routegroups/only-a")],
        ("DELETE", "/api/v1/routegroups/{name}"): [Visit("DELETE", "/api/v1/routegroups/only-a")],
        ("GET", "/api/v1/routegroups"): [
            Visit("GET", "/api/v1/routegroups", status=200),
            Visit("GET", "/api/v1/routegroups?cluster=staging-a", status=200),
        ],
        ("GET", "/api/v1/agent/assignments"): [
            Visit("GET", "/api/v1/agent/assignments?since=0&wait=0", status=200, token="agent")
        ],
        ("POST", "/api/v1/agent/status"): [
            Visit("POST", "/api/v1/agent/status", report, status=200, token="agent")
        ],
    }


def test_the_walk_covers_every_endpoint(app: FastAPI) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    nothing = {"token_prefix": "", "cluster_token_prefix": "", "trace_id": "cd" * 16}
    assert set(walk(nothing)) == documented - PUBLIC


async def test_a_foreign_token_never_reads_or_changes_anything(
    make_org: Callable[..., Any],
    runtime: Runtime,
    transport: httpx.ASGITransport,
) -> None:
    a: Org = await make_org("org-a", email="owner@a.example")
    b: Org = await make_org("org-b", email="owner@b.example")
    # A's world: teams, a member, clusters, sandboxes (one deleting), a status, tokens.
    await a.client.send(endpoints.create_team("payments"))
    await a.client.send(endpoints.create_team("only-a"))
    await a.client.send(endpoints.add_member("dev@a.example", teams=["only-a"]))
    agent_a = await register_cluster(a, "staging-a")
    await register_cluster(a, "only-a")
    await a.client.send(
        endpoints.apply_sandbox(manifest("only-a", cluster="staging-a", labels={"owner": "a"}))
    )
    await a.client.send(
        endpoints.apply_sandbox(manifest("pr-a", cluster="staging-a", team="payments"))
    )
    await a.client.send(endpoints.delete_sandbox("pr-a"))
    token = await a.client.send(endpoints.create_token("ci"))
    a_tokens = await a.client.send(endpoints.list_cluster_tokens("staging-a"))
    trace = await a.client.send(endpoints.request_trace("only-a", "ef" * 16))
    secrets_of_a = {
        "token_prefix": token.token.prefix,
        "cluster_token_prefix": a_tokens.items[0].prefix,
        "trace_id": trace.trace_id,
    }
    routing_key = (await a.client.send(endpoints.get_sandbox("only-a"))).routing_key
    a_group = await a.client.send(
        endpoints.apply_route_group(
            {
                "name": "only-a",
                "spec": {"cluster": "staging-a", "selector": {"matchLabels": {"owner": "a"}}},
            }
        )
    )
    assert [m.name for m in a_group.members] == ["only-a"]
    await a.client.send(
        endpoints.apply_route_group(
            {
                "name": "pr-a",
                "spec": {"cluster": "staging-a", "selector": {"matchLabels": {"pr": "a"}}},
            }
        )
    )
    await a.client.send(endpoints.set_policy({"maxTtl": "1d", "maxSandboxesPerMember": 3}))
    await a.client.send(endpoints.set_policy({"maxTtl": "4h"}, team="only-a"))
    await a.client.send(endpoints.rotate_webhook_secret())
    agent_b = await register_cluster(b, "staging-b")
    before = await snapshots.organization_rows(runtime, "org-a")

    tokens = {"user": b.token, "agent": agent_b}
    for operation, visits in walk(secrets_of_a).items():
        for visit in visits:
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://cp",
                headers={"Authorization": f"Bearer {tokens[visit.token]}"},
            ) as http:
                response = await http.request(visit.method, visit.path, json=visit.body)
            where = f"{operation} via {visit.method} {visit.path}"
            assert response.status_code < 500, where
            if visit.status is not None:
                assert response.status_code == visit.status, f"{where}: {response.text}"
            for leaked in (
                "org-a",
                "owner@a.example",
                "dev@a.example",
                "only-a",
                routing_key,
                a_group.routing_key,
                secrets_of_a["token_prefix"],
                secrets_of_a["cluster_token_prefix"],
            ):
                if leaked not in visit.path + json.dumps(visit.body):  # not B's own words
                    assert leaked not in response.text, f"{where} leaked {leaked!r}"

    assert await snapshots.organization_rows(runtime, "org-a") == before
    # And A's own agent still sees exactly A's sandboxes.
    agent = a.client.with_token(agent_a)
    try:
        batch = await agent.send(endpoints.assignments(0, wait=0))
    finally:
        await agent.aclose()
    assert sorted(x.name for x in batch.assignments) == ["only-a", "pr-a"]
    assert isinstance(agent, AsyncControlPlaneClient)
