"""Route traces through the control plane: a user asks, the cluster's agent is woken and
told (only when it asked for the feature), reports the hops, and the user reads them."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from tests.support.controlplane import (
    BASE_URL,
    Clock,
    Org,
    accepted_member,
    manifest,
    register_cluster,
)

from sandboxmesh.client import AsyncControlPlaneClient, endpoints, errors
from sandboxmesh.controlplane.app import _sweep
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.store.tables import route_traces
from sandboxmesh.spec.protocol import (
    FEATURE_TRACES,
    MAX_TRACE_HOPS,
    GoneConfirmation,
    StatusReportBatch,
    TraceHop,
    TraceReport,
)

AgentFactory = Callable[..., AsyncControlPlaneClient]
TRACES = (FEATURE_TRACES,)


def trace_id() -> str:
    return secrets.token_hex(16)


def hop(service: str, decision: str = "baseline", key: str | None = None) -> TraceHop:
    return TraceHop(
        at=1_700_000_000.5,
        service=service,
        router="router-abc",
        decision=decision,
        reason="the request carried no routing key",
        key=key,
    )


async def test_a_trace_is_asked_for_delivered_answered_and_read(
    acme: Org, agent_client: AgentFactory
) -> None:
    agent = agent_client(await register_cluster(acme))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    synced = await agent.send(endpoints.assignments(0, wait=0, features=TRACES))
    assert synced.trace_requests == []

    tid = trace_id()
    asked = await acme.client.send(endpoints.request_trace("pr-1", tid))
    assert (asked.trace_id, asked.sandbox, asked.cluster, asked.state) == (
        tid,
        "pr-1",
        "staging",
        "pending",
    )
    assert asked.requested_by == "member:owner@acme.example"
    assert asked.hops == []

    batch = await agent.send(endpoints.assignments(synced.revision, wait=0, features=TRACES))
    assert batch.revision > synced.revision
    assert batch.assignments == []
    assert [r.trace_id for r in batch.trace_requests or []] == [tid]
    # Told once: the next poll from the new revision has nothing.
    after = await agent.send(endpoints.assignments(batch.revision, wait=0, features=TRACES))
    assert after.trace_requests == []

    hops = [hop("shop/frontend", key="k1"), hop("shop/checkout", decision="pr-1", key="k1")]
    ack = await agent.send(endpoints.report_trace(TraceReport(trace_id=tid, hops=hops)))
    assert (ack.stored, ack.ignored) == (True, None)
    again = await agent.send(endpoints.report_trace(TraceReport(trace_id=tid, hops=[])))
    assert (again.stored, again.ignored) == (False, "answered")

    read = await acme.client.send(endpoints.get_trace("pr-1", tid))
    assert read.state == "answered"
    assert read.answered_at is not None
    assert read.hops == hops
    listed = await acme.client.send(endpoints.list_traces("pr-1"))
    assert [t.trace_id for t in listed.items] == [tid]


async def test_a_trace_request_wakes_a_waiting_long_poll(
    acme: Org, agent_client: AgentFactory
) -> None:
    agent = agent_client(await register_cluster(acme))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    synced = await agent.send(endpoints.assignments(0, wait=0, features=TRACES))
    poll = asyncio.create_task(
        agent.send(endpoints.assignments(synced.revision, wait=8, features=TRACES))
    )
    await asyncio.sleep(0.3)
    assert not poll.done()
    tid = trace_id()
    await acme.client.send(endpoints.request_trace("pr-1", tid))
    batch = await asyncio.wait_for(poll, 5)
    assert [r.trace_id for r in batch.trace_requests or []] == [tid]


async def test_agents_that_do_not_ask_never_see_the_field(
    acme: Org, agent_client: AgentFactory, transport: httpx.ASGITransport
) -> None:
    token = await register_cluster(acme)
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    await acme.client.send(endpoints.request_trace("pr-1", trace_id()))
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"}
    ) as raw:
        old = (await raw.get("/api/v1/agent/assignments", params={"wait": 0})).json()
        unknown = await raw.get(
            "/api/v1/agent/assignments", params={"wait": 0, "features": "teleport"}
        )
        new = await raw.get(
            "/api/v1/agent/assignments", params={"wait": 0, "features": ["teleport", "traces"]}
        )
    assert "traceRequests" not in old
    assert "traceRequests" not in unknown.json()
    assert len(new.json()["traceRequests"]) == 1
    # An older agent's strict parse of what it gets still succeeds.
    agent = agent_client(token)
    assert (await agent.send(endpoints.assignments(0, wait=0))).trace_requests is None


async def test_a_resync_holds_the_pending_requests_not_the_answered_or_expired(
    acme: Org, agent_client: AgentFactory, clock: Clock
) -> None:
    agent = agent_client(await register_cluster(acme))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    old, answered, fresh = trace_id(), trace_id(), trace_id()
    await acme.client.send(endpoints.request_trace("pr-1", old))
    clock.advance(seconds=61)
    await acme.client.send(endpoints.request_trace("pr-1", answered))
    await agent.send(endpoints.report_trace(TraceReport(trace_id=answered)))
    await acme.client.send(endpoints.request_trace("pr-1", fresh))
    batch = await agent.send(endpoints.assignments(0, wait=0, features=TRACES))
    assert batch.resync
    assert [r.trace_id for r in batch.trace_requests or []] == [fresh]
    assert (await acme.client.send(endpoints.get_trace("pr-1", old))).state == "expired"
    got = await acme.client.send(endpoints.get_trace("pr-1", answered))
    assert (got.state, got.hops) == ("answered", [])


async def test_refusals(acme: Org) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    with pytest.raises(errors.NotFound):
        await acme.client.send(endpoints.request_trace("nope", trace_id()))
    tid = trace_id()
    await acme.client.send(endpoints.request_trace("pr-1", tid))
    with pytest.raises(errors.Conflict):
        await acme.client.send(endpoints.request_trace("pr-1", tid))
    with pytest.raises(errors.NotFound):
        await acme.client.send(endpoints.get_trace("pr-1", trace_id()))
    for bad in ("0" * 32, "ABCDEF" + "0" * 26, "abc", "g" * 32, 12):
        response = await acme.client._http.post(
            "/api/v1/sandboxes/pr-1/traces", json={"traceId": bad}
        )
        assert response.status_code == 422, bad
        assert response.json()["code"] == "invalid"
    response = await acme.client._http.get("/api/v1/sandboxes/pr-1/traces/" + "z" * 32)
    assert (response.status_code, response.json()["code"]) == (422, "invalid")
    response = await acme.client._http.post(
        "/api/v1/sandboxes/pr-1/traces", json={"traceId": trace_id(), "hops": []}
    )
    assert response.status_code == 422


async def test_a_viewer_may_trace_and_another_org_sees_nothing(
    acme: Org, make_org: Callable[..., object], runtime: Runtime
) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    viewer = await accepted_member(acme, runtime, "v@acme.example", role="viewer")
    tid = trace_id()
    asked = await viewer.send(endpoints.request_trace("pr-1", tid))
    assert asked.requested_by == "member:v@acme.example"

    other: Org = await make_org("globex")  # type: ignore[misc]
    await register_cluster(other)
    await other.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    for call in (
        endpoints.get_trace("pr-1", tid),
        endpoints.request_trace("only-acme", trace_id()),
    ):
        with pytest.raises(errors.NotFound):
            await other.client.send(call)
    # Its own namesake sandbox has no trace of acme's.
    assert (await other.client.send(endpoints.list_traces("pr-1"))).items == []


async def test_another_clusters_agent_cannot_answer(
    acme: Org, make_org: Callable[..., object], agent_client: AgentFactory
) -> None:
    staging = agent_client(await register_cluster(acme))
    prod = agent_client(await register_cluster(acme, "prod"))
    other: Org = await make_org("globex")  # type: ignore[misc]
    foreign = agent_client(await register_cluster(other))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    tid = trace_id()
    await acme.client.send(endpoints.request_trace("pr-1", tid))
    forged = TraceReport(trace_id=tid, hops=[hop("shop/x", decision="evil")])
    for agent in (prod, foreign):
        ack = await agent.send(endpoints.report_trace(forged))
        assert (ack.stored, ack.ignored) == (False, "unknown")
        batch = await agent.send(endpoints.assignments(0, wait=0, features=TRACES))
        assert batch.trace_requests == []
    assert (await acme.client.send(endpoints.get_trace("pr-1", tid))).state == "pending"
    assert (await staging.send(endpoints.report_trace(forged))).stored
    # A user token is no agent's.
    with pytest.raises(errors.Unauthorized):
        await acme.client.send(endpoints.report_trace(forged))


async def test_oversized_and_malformed_reports_are_refused(
    acme: Org, agent_client: AgentFactory, transport: httpx.ASGITransport
) -> None:
    token = await register_cluster(acme)
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    tid = trace_id()
    await acme.client.send(endpoints.request_trace("pr-1", tid))
    one = hop("shop/a").model_dump(mode="json", by_alias=True)
    bodies = [
        {"traceId": tid, "hops": [one] * (MAX_TRACE_HOPS + 1)},
        {"traceId": tid, "hops": [{**one, "reason": "x" * 513}]},
        {"traceId": tid, "hops": [{**one, "service": ""}]},
        {"traceId": tid, "hops": [{**one, "extra": 1}]},
        {"traceId": tid, "hops": [{**one, "at": "soon"}]},
        {"traceId": "nope", "hops": []},
        {"hops": []},
    ]
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"}
    ) as raw:
        for body in bodies:
            response = await raw.post("/api/v1/agent/traces", json=body)
            assert response.status_code == 422, body
    assert (await acme.client.send(endpoints.get_trace("pr-1", tid))).state == "pending"


async def test_pending_requests_per_cluster_are_limited(
    acme: Org, agent_client: AgentFactory, clock: Clock
) -> None:
    agent = agent_client(await register_cluster(acme))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    # Asked for all at once: the cluster's row lock serialises the count, exactly 20 pass.
    outcomes = await asyncio.gather(
        *(acme.client.send(endpoints.request_trace("pr-1", trace_id())) for _ in range(26)),
        return_exceptions=True,
    )
    asked = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(asked) == 20
    for error in refused:
        assert isinstance(error, errors.ApiError)
        assert (error.status, error.code) == (429, "too_many_pending_traces")
    # An answer frees a place; so does time.
    first = asked[0]
    assert not isinstance(first, BaseException)
    await agent.send(endpoints.report_trace(TraceReport(trace_id=first.trace_id)))
    await acme.client.send(endpoints.request_trace("pr-1", trace_id()))
    with pytest.raises(errors.ApiError):
        await acme.client.send(endpoints.request_trace("pr-1", trace_id()))
    clock.advance(seconds=61)
    await acme.client.send(endpoints.request_trace("pr-1", trace_id()))


async def test_old_traces_are_pruned_and_go_with_their_sandbox(
    acme: Org, agent_client: AgentFactory, clock: Clock, runtime: Runtime
) -> None:
    agent = agent_client(await register_cluster(acme))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-2")))
    old = trace_id()
    await acme.client.send(endpoints.request_trace("pr-1", old))
    clock.advance(minutes=61)
    kept = trace_id()
    await acme.client.send(endpoints.request_trace("pr-1", kept))
    await acme.client.send(endpoints.request_trace("pr-2", trace_id()))
    await _sweep(runtime)
    listed = await acme.client.send(endpoints.list_traces("pr-1"))
    assert [t.trace_id for t in listed.items] == [kept]

    await acme.client.send(endpoints.delete_sandbox("pr-2"))
    with pytest.raises(errors.Conflict):
        await acme.client.send(endpoints.request_trace("pr-2", trace_id()))
    await agent.send(
        endpoints.report_status(StatusReportBatch(gone=[GoneConfirmation(name="pr-2")]))
    )
    async with runtime.unit_of_work() as tx:
        left = await tx.conn.scalar(sa.select(sa.func.count()).select_from(route_traces))
    assert left == 1
