"""Route groups through the API, on SQLite and PostgreSQL: apply, list, get, delete; members
and conflicts read from the sandboxes' labels; tenants apart; bad input refused."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.support import snapshots
from tests.support.controlplane import Clock, Org, accepted_member, manifest, register_cluster

from sandboxmesh.client import endpoints, errors
from sandboxmesh.controlplane.app import _sweep
from sandboxmesh.controlplane.domain import route_groups as rules
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.store.tables import route_groups
from sandboxmesh.spec import names
from sandboxmesh.spec.protocol import FEATURE_ROUTE_GROUPS, StatusReportBatch


def group(name: str = "pr-42", *, cluster: str = "staging", **spec: Any) -> dict[str, Any]:
    return {
        "name": name,
        "spec": {"cluster": cluster, "selector": {"matchLabels": {"pr": "42"}}, **spec},
    }


def forking(
    name: str, baseline: str, labels: dict[str, str], cluster: str = "staging"
) -> dict[str, object]:
    body = manifest(name, cluster=cluster, labels=labels)
    body["spec"]["forks"][0]["forkOf"]["name"] = baseline  # type: ignore[index]
    return body


async def test_a_group_gets_a_key_and_shows_its_members_and_conflicts(acme: Org) -> None:
    await register_cluster(acme)
    await register_cluster(acme, "prod")
    for body in (
        forking("web-42", "checkout", {"pr": "42", "repo": "web"}),
        forking("api-42", "cart", {"pr": "42", "repo": "api"}),
        forking("web-7", "checkout", {"pr": "7"}),
        forking("prod-42", "checkout", {"pr": "42"}, cluster="prod"),
    ):
        await acme.client.send(endpoints.apply_sandbox(body))

    created = await acme.client.send(endpoints.apply_route_group(group(description="PR #42")))
    assert created.name == "pr-42"
    assert created.cluster == "staging"
    assert created.generation == 1
    assert re.fullmatch(names.ROUTING_KEY_PATTERN, created.routing_key)  # DESIGN.md §3
    assert created.created_by == "member:owner@acme.example"
    # Members: this cluster's sandboxes whose labels match, not prod's nor pr 7's.
    assert [(m.name, m.forks) for m in created.members] == [
        ("api-42", ["Deployment/shop/cart"]),
        ("web-42", ["Deployment/shop/checkout"]),
    ]
    assert created.conflicts == []

    # A second member forking checkout: a conflict naming both.
    await acme.client.send(endpoints.apply_sandbox(forking("ui-42", "checkout", {"pr": "42"})))
    got = await acme.client.send(endpoints.get_route_group("pr-42"))
    assert [m.name for m in got.members] == ["api-42", "ui-42", "web-42"]
    (conflict,) = got.conflicts
    assert str(conflict.baseline) == "Deployment/shop/checkout"
    assert conflict.sandboxes == ["ui-42", "web-42"]
    # A member being deleted is a member no more.
    await acme.client.send(endpoints.delete_sandbox("ui-42"))
    got = await acme.client.send(endpoints.get_route_group("pr-42"))
    assert [m.name for m in got.members] == ["api-42", "web-42"]
    assert got.conflicts == []

    # Updating keeps the key; the same spec again changes nothing.
    updated = await acme.client.send(
        endpoints.apply_route_group(group(description="PR #42, two repositories"))
    )
    assert (updated.generation, updated.routing_key) == (2, created.routing_key)
    again = await acme.client.send(
        endpoints.apply_route_group(group(description="PR #42, two repositories"))
    )
    assert again.generation == 2

    listed = await acme.client.send(endpoints.list_route_groups())
    assert [g.name for g in listed.items] == ["pr-42"]
    assert listed.next is None
    assert (await acme.client.send(endpoints.list_route_groups(cluster="prod"))).items == []

    await acme.client.send(endpoints.delete_route_group("pr-42"))
    with pytest.raises(errors.ApiError) as missing:
        await acme.client.send(endpoints.get_route_group("pr-42"))
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert (await acme.client.send(endpoints.list_route_groups())).items == []
    # The name is free again, with a new key.
    reborn = await acme.client.send(endpoints.apply_route_group(group()))
    assert reborn.generation == 1
    assert reborn.routing_key != created.routing_key


async def test_groups_page_by_name(acme: Org) -> None:
    await register_cluster(acme)
    for name in ("c", "a", "b"):
        await acme.client.send(endpoints.apply_route_group(group(name)))
    first = await acme.client.send(endpoints.list_route_groups(limit=2))
    assert ([g.name for g in first.items], first.next) == (["a", "b"], "b")
    rest = await acme.client.send(endpoints.list_route_groups(after="b", limit=2))
    assert ([g.name for g in rest.items], rest.next) == (["c"], None)


async def test_a_group_stays_on_its_cluster(acme: Org) -> None:
    await register_cluster(acme)
    await register_cluster(acme, "prod")
    await acme.client.send(endpoints.apply_route_group(group()))
    with pytest.raises(errors.ApiError) as moved:
        await acme.client.send(endpoints.apply_route_group(group(cluster="prod")))
    assert (moved.value.status, moved.value.code) == (409, "conflict")
    # A cluster that goes takes its groups with it (they are intent for it alone).
    await acme.client.send(endpoints.apply_route_group(group("on-prod", cluster="prod")))
    await acme.client.send(endpoints.delete_cluster("prod"))
    assert [g.name for g in (await acme.client.send(endpoints.list_route_groups())).items] == [
        "pr-42"
    ]


async def test_another_organisation_sees_nothing_of_a_group(
    acme: Org, make_org: Any, runtime: Runtime
) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.apply_sandbox(forking("web-42", "checkout", {"pr": "42"})))
    mine = await acme.client.send(endpoints.apply_route_group(group()))
    globex = await make_org("globex")
    await register_cluster(globex)
    for call in (endpoints.get_route_group("pr-42"), endpoints.delete_route_group("pr-42")):
        with pytest.raises(errors.ApiError) as refused:
            await globex.client.send(call)
        assert (refused.value.status, refused.value.code) == (404, "not_found")
    assert (await globex.client.send(endpoints.list_route_groups())).items == []
    # The same name in globex is globex's own group: its own key, none of acme's members.
    theirs = await globex.client.send(endpoints.apply_route_group(group()))
    assert theirs.routing_key != mine.routing_key
    assert theirs.members == []
    # acme's is untouched.
    still = await acme.client.send(endpoints.get_route_group("pr-42"))
    assert (still.routing_key, [m.name for m in still.members]) == (mine.routing_key, ["web-42"])


async def test_a_viewer_reads_groups_and_writes_none(acme: Org, runtime: Runtime) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.apply_route_group(group()))
    viewer = await accepted_member(acme, runtime, "v@acme.example", role="viewer")
    member = await accepted_member(acme, runtime, "m@acme.example", role="member")
    assert (await viewer.send(endpoints.get_route_group("pr-42"))).name == "pr-42"
    before = await snapshots.all_rows(runtime)
    for call in (
        endpoints.apply_route_group(group("pr-43")),
        endpoints.delete_route_group("pr-42"),
    ):
        with pytest.raises(errors.ApiError) as refused:
            await viewer.send(call)
        assert (refused.value.status, refused.value.code) == (403, "forbidden")
    assert await snapshots.all_rows(runtime) == before
    # A member of no team of the sandboxes may still group them: it changes none of them.
    assert (await member.send(endpoints.apply_route_group(group("pr-43")))).generation == 1


async def test_an_organisation_has_at_most_so_many_groups(
    acme: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register_cluster(acme)
    monkeypatch.setattr(rules, "MAX_ROUTE_GROUPS_PER_ORG", 2)
    await acme.client.send(endpoints.apply_route_group(group("a")))
    await acme.client.send(endpoints.apply_route_group(group("b")))
    with pytest.raises(errors.QuotaExceeded) as refused:
        await acme.client.send(endpoints.apply_route_group(group("c")))
    assert refused.value.status == 409
    assert refused.value.details["limit"] == "route_groups"
    # An update is no new group; a deleted group frees its place.
    await acme.client.send(endpoints.apply_route_group(group("a", description="x")))
    await acme.client.send(endpoints.delete_route_group("b"))
    await acme.client.send(endpoints.apply_route_group(group("c")))


async def test_a_group_whose_ttl_ran_out_is_deleted(
    acme: Org, runtime: Runtime, clock: Clock
) -> None:
    await register_cluster(acme)
    brief = await acme.client.send(endpoints.apply_route_group(group(ttl={"duration": "5m"})))
    assert brief.expires_at is not None
    assert brief.expires_at - brief.created_at == timedelta(minutes=5)
    await acme.client.send(endpoints.apply_route_group(group("lasting")))
    clock.advance(minutes=6)
    await _sweep(runtime)
    listed = await acme.client.send(endpoints.list_route_groups())
    assert [g.name for g in listed.items] == ["lasting"]


@pytest.fixture
async def http(acme: Org, transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    await register_cluster(acme)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://cp",
        headers={"Authorization": f"Bearer {acme.token}"},
    ) as client:
        yield client


GOOD = group()


def _spec(**changes: Any) -> dict[str, Any]:
    return {"name": "pr-42", "spec": {**GOOD["spec"], **changes}}


BAD: list[tuple[str, str, Any, int, str]] = [
    ("PUT", "/api/v1/routegroups/pr-42", b"{not json", 400, "malformed_json"),
    ("PUT", "/api/v1/routegroups/pr-42", [], 422, "invalid"),
    ("PUT", "/api/v1/routegroups/other", GOOD, 422, "invalid"),
    ("PUT", "/api/v1/routegroups/Bad_Name", group("Bad_Name"), 422, "invalid"),
    ("PUT", "/api/v1/routegroups/" + "x" * 41, group("x" * 41), 422, "invalid"),
    ("PUT", "/api/v1/routegroups/pr-42", _spec(selector={}), 422, "invalid"),
    ("PUT", "/api/v1/routegroups/pr-42", _spec(selector={"matchLabels": {}}), 422, "invalid"),
    (
        "PUT",
        "/api/v1/routegroups/pr-42",
        _spec(selector={"matchLabels": {"a b": "c"}}),
        422,
        "invalid",
    ),
    (
        "PUT",
        "/api/v1/routegroups/pr-42",
        _spec(selector={"matchLabels": {f"k{i}": "v" for i in range(17)}}),
        422,
        "invalid",
    ),
    ("PUT", "/api/v1/routegroups/pr-42", _spec(selector="pr=42"), 422, "invalid"),
    ("PUT", "/api/v1/routegroups/pr-42", _spec(cluster="nowhere"), 422, "invalid"),
    ("PUT", "/api/v1/routegroups/pr-42", _spec(routingKey="mine0000000000"), 422, "invalid"),
    ("PUT", "/api/v1/routegroups/pr-42", _spec(ttl={"duration": "366d"}), 422, "invalid"),
    ("PUT", "/api/v1/routegroups/pr-42", _spec(description="a\u0000b"), 422, "invalid"),
    ("PUT", "/api/v1/routegroups/pr-42", {**GOOD, "extra": 1}, 422, "invalid"),
    ("GET", "/api/v1/routegroups?limit=0", None, 422, "invalid"),
    ("GET", "/api/v1/routegroups?limit=101", None, 422, "invalid"),
    ("GET", "/api/v1/routegroups?cluster=Not_DNS", None, 422, "invalid"),
    ("GET", "/api/v1/routegroups/nothing-here", None, 404, "not_found"),
    ("DELETE", "/api/v1/routegroups/nothing-here", None, 404, "not_found"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    BAD,
    ids=[f"{c[0]} {c[1][:36]} {c[4]}-{i}" for i, c in enumerate(BAD)],
)
async def test_bad_input_is_a_4xx_and_writes_nothing(
    http: httpx.AsyncClient,
    runtime: Runtime,
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str,
) -> None:
    before = await snapshots.all_rows(runtime)
    if isinstance(body, bytes):
        response = await http.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = await http.request(method, path, json=body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert set(answer) == {"code", "message", "details"}
    assert answer["code"] == code
    assert answer["message"]
    assert await snapshots.all_rows(runtime) == before


async def test_a_huge_group_is_refused(http: httpx.AsyncClient, runtime: Runtime) -> None:
    before = await snapshots.all_rows(runtime)
    response = await http.put(
        "/api/v1/routegroups/pr-42", content=json.dumps(_spec(description="x" * 400_000))
    )
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")
    assert await snapshots.all_rows(runtime) == before


async def test_a_cluster_token_opens_no_route_group(
    acme: Org, transport: httpx.ASGITransport
) -> None:
    token = await register_cluster(acme)
    await acme.client.send(endpoints.apply_route_group(group()))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://cp", headers={"Authorization": f"Bearer {token}"}
    ) as agent:
        response = await agent.get("/api/v1/routegroups/pr-42")
    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


ROUTE_GROUPS = (FEATURE_ROUTE_GROUPS,)


async def test_the_agent_that_asks_is_told_of_its_clusters_groups(
    acme: Org, agent_client: Any, runtime: Runtime
) -> None:
    agent = agent_client(await register_cluster(acme))
    other = agent_client(await register_cluster(acme, "prod"))
    await acme.client.send(endpoints.apply_route_group(group("pr-41")))
    elsewhere = await acme.client.send(
        endpoints.apply_route_group(group("on-prod", cluster="prod"))
    )

    synced = await agent.send(endpoints.assignments(0, wait=0, features=ROUTE_GROUPS))
    assert synced.resync
    (told,) = synced.route_groups or []
    assert (told.name, told.generation, told.deleting) == ("pr-41", 1, False)
    assert told.spec.selector.match_labels == {"pr": "42"}
    assert (
        told.spec.routing_key
        == (await acme.client.send(endpoints.get_route_group("pr-41"))).routing_key
    )
    prod = await other.send(endpoints.assignments(0, wait=0, features=ROUTE_GROUPS))
    assert [(g.name, g.spec.routing_key) for g in prod.route_groups or []] == [
        ("on-prod", elsewhere.routing_key)
    ]

    # A waiting poll wakes for a new group, and gets it alone.
    waiting = asyncio.ensure_future(
        agent.send(endpoints.assignments(synced.revision, wait=10, features=ROUTE_GROUPS))
    )
    await asyncio.sleep(0)
    await acme.client.send(endpoints.apply_route_group(group("pr-42")))
    woken = await asyncio.wait_for(waiting, timeout=10)
    assert [g.name for g in woken.route_groups or []] == ["pr-42"]
    assert woken.assignments == []

    # A deletion is told as `deleting`, once; the next poll from there forgets it.
    await acme.client.send(endpoints.delete_route_group("pr-42"))
    told_deleted = await agent.send(
        endpoints.assignments(woken.revision, wait=0, features=ROUTE_GROUPS)
    )
    assert [(g.name, g.deleting) for g in told_deleted.route_groups or []] == [("pr-42", True)]
    assert await _rows(runtime) == ["on-prod", "pr-41", "pr-42"]
    after = await agent.send(
        endpoints.assignments(told_deleted.revision, wait=0, features=ROUTE_GROUPS)
    )
    assert after.route_groups == []
    assert await _rows(runtime) == ["on-prod", "pr-41"]
    # A resync lists the live groups only: what it leaves out, the agent prunes.
    again = await agent.send(endpoints.assignments(0, wait=0, features=ROUTE_GROUPS))
    assert [g.name for g in again.route_groups or []] == ["pr-41"]


async def test_an_agent_that_does_not_ask_never_sees_the_field(
    acme: Org, transport: httpx.ASGITransport
) -> None:
    token = await register_cluster(acme)
    await acme.client.send(endpoints.apply_route_group(group()))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://cp", headers={"Authorization": f"Bearer {token}"}
    ) as agent:
        plain = await agent.get("/api/v1/agent/assignments?since=0&wait=0")
        asked = await agent.get(
            "/api/v1/agent/assignments?since=0&wait=0&features=routegroups&features=traces"
        )
    assert "routeGroups" not in plain.json()
    assert [g["name"] for g in asked.json()["routeGroups"]] == ["pr-42"]
    assert asked.json()["traceRequests"] == []


async def _rows(runtime: Runtime) -> list[str]:
    async with runtime.unit_of_work() as tx:
        names = await tx.conn.scalars(sa.select(route_groups.c.name).order_by(route_groups.c.name))
        return list(names)


async def test_a_name_deleted_on_one_cluster_and_reused_on_another_is_told_to_both(
    acme: Org, agent_client: Any
) -> None:
    staging = agent_client(await register_cluster(acme))
    prod = agent_client(await register_cluster(acme, "prod"))
    first = await acme.client.send(endpoints.apply_route_group(group()))
    told = await staging.send(endpoints.assignments(0, wait=0, features=ROUTE_GROUPS))
    assert [g.name for g in told.route_groups or []] == ["pr-42"]
    await acme.client.send(endpoints.delete_route_group("pr-42"))
    moved = await acme.client.send(endpoints.apply_route_group(group(cluster="prod")))
    assert moved.routing_key != first.routing_key
    # Staging's agent still learns that its pr-42 is gone; prod's gets the new one.
    removed = await staging.send(
        endpoints.assignments(told.revision, wait=0, features=ROUTE_GROUPS)
    )
    assert [(g.name, g.deleting, g.spec.routing_key) for g in removed.route_groups or []] == [
        ("pr-42", True, first.routing_key)
    ]
    added = await prod.send(endpoints.assignments(0, wait=0, features=ROUTE_GROUPS))
    assert [(g.name, g.deleting) for g in added.route_groups or []] == [("pr-42", False)]
    assert (await acme.client.send(endpoints.get_route_group("pr-42"))).cluster == "prod"


async def test_a_group_shows_its_members_preview_urls_under_its_own_key(
    acme: Org, agent_client: Any
) -> None:
    agent = agent_client(await register_cluster(acme))
    web = await acme.client.send(
        endpoints.apply_sandbox(forking("web-42", "checkout", {"pr": "42"}))
    )
    await acme.client.send(endpoints.apply_sandbox(forking("api-42", "cart", {"pr": "42"})))
    created = await acme.client.send(endpoints.apply_route_group(group()))
    assert created.preview_urls == []  # no member reported any yet

    url = {"name": "web", "url": f"https://web-{web.routing_key}.preview.example.com/",
           "namespace": "shop", "service": "frontend", "port": 80, "access": "public"}  # fmt: skip
    status = {"phase": "Ready", "ready": True, "previewUrls": [url]}
    batch = {"reports": [{"name": "web-42", "observedGeneration": 1, "status": status}]}
    ack = await agent.send(endpoints.report_status(StatusReportBatch.model_validate(batch)))
    assert ack.accepted == ["web-42"]

    got = await acme.client.send(endpoints.get_route_group("pr-42"))
    assert [(u.name, u.url, u.service, u.access.value) for u in got.preview_urls] == [
        ("web", f"https://web-{created.routing_key}.preview.example.com/", "frontend", "public")
    ]
