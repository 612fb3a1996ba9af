"""The agent protocol: long-poll by revision, wake-ups, resync, status reports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from tests.support import snapshots
from tests.support.controlplane import Org, manifest, register_cluster
from tests.support.eventually import eventually_async

from sandboxmesh.client import AsyncControlPlaneClient, endpoints, errors
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.spec import Phase, SandboxStatus
from sandboxmesh.spec.crd import SandboxResourceSpec
from sandboxmesh.spec.protocol import (
    GoneConfirmation,
    SandboxStatusReport,
    StatusReportBatch,
)

AgentFactory = Callable[..., AsyncControlPlaneClient]


async def test_resync_then_changes_since_a_revision(acme: Org, agent_client: AgentFactory) -> None:
    agent = agent_client(await register_cluster(acme))
    await acme.client.send(endpoints.apply_sandbox(manifest("a")))
    await acme.client.send(endpoints.apply_sandbox(manifest("b")))
    full = await agent.send(endpoints.assignments(0, wait=0))
    assert full.resync is True
    assert [a.name for a in full.assignments] == ["a", "b"]
    created = await acme.client.send(endpoints.get_sandbox("a"))
    first = full.assignments[0]
    assert first.generation == 1
    assert first.deleting is False
    assert isinstance(first.spec, SandboxResourceSpec)
    assert first.spec.routing_key == created.routing_key
    assert first.spec.team == "default"
    assert first.spec.forks[0].fork_of.name == "checkout"

    nothing = await agent.send(endpoints.assignments(full.revision, wait=0))
    assert (nothing.resync, nothing.assignments, nothing.revision) == (False, [], full.revision)

    await acme.client.send(endpoints.apply_sandbox(manifest("a", description="v2")))
    await acme.client.send(endpoints.delete_sandbox("b"))
    changed = await agent.send(endpoints.assignments(full.revision, wait=0))
    assert changed.resync is False
    assert changed.revision > full.revision
    assert [(a.name, a.generation, a.deleting) for a in changed.assignments] == [
        ("a", 2, False),
        ("b", 1, True),
    ]


async def test_revisions_are_per_cluster_and_monotonic(
    acme: Org, agent_client: AgentFactory
) -> None:
    staging = agent_client(await register_cluster(acme, "staging"))
    prod = agent_client(await register_cluster(acme, "prod"))
    seen = []
    for i in range(5):
        await acme.client.send(endpoints.apply_sandbox(manifest(f"s{i}")))
        seen.append((await staging.send(endpoints.assignments(0, wait=0))).revision)
    assert seen == sorted(seen)
    assert len(set(seen)) == 5
    other = await prod.send(endpoints.assignments(0, wait=0))
    assert (other.revision, other.assignments) == (1, [])


async def test_a_revision_from_the_future_forces_a_resync(
    acme: Org, agent_client: AgentFactory
) -> None:
    agent = agent_client(await register_cluster(acme))
    await acme.client.send(endpoints.apply_sandbox(manifest("a")))
    batch = await agent.send(endpoints.assignments(10_000, wait=0))
    assert batch.resync is True
    assert [a.name for a in batch.assignments] == ["a"]


async def test_the_long_poll_waits_then_returns_empty(
    acme: Org, agent_client: AgentFactory
) -> None:
    agent = agent_client(await register_cluster(acme))
    revision = (await agent.send(endpoints.assignments(0, wait=0))).revision
    started = time.monotonic()
    batch = await agent.send(endpoints.assignments(revision, wait=0.5))
    assert time.monotonic() - started >= 0.45
    assert batch.assignments == []
    assert batch.revision == revision


async def _waiting(runtime: Runtime) -> bool:
    return runtime.hub.waiting > 0


async def test_a_change_wakes_a_waiting_long_poll(
    acme: Org, agent_client: AgentFactory, runtime: Runtime
) -> None:
    agent = agent_client(await register_cluster(acme))
    revision = (await agent.send(endpoints.assignments(0, wait=0))).revision
    waiting = asyncio.create_task(agent.send(endpoints.assignments(revision, wait=9)))
    await eventually_async(
        lambda: _waiting(runtime), timeout=5, what="the poll to wait for a change"
    )
    assert not waiting.done()
    await acme.client.send(endpoints.apply_sandbox(manifest("wake")))
    batch = await asyncio.wait_for(waiting, timeout=8)
    # Woken by the change: a poll whose wait ran out would have returned no assignment.
    # (How fast it wakes is measured by bench/controlplane/bench_long_poll.py.)
    assert [a.name for a in batch.assignments] == ["wake"]


async def test_status_reports_reach_the_api(acme: Org, agent_client: AgentFactory) -> None:
    agent = agent_client(await register_cluster(acme))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr")))
    status = SandboxStatus(phase=Phase.READY, ready=True, reason="Ready", message="all forks ready")
    ack = await agent.send(
        endpoints.report_status(
            StatusReportBatch(
                reports=[
                    SandboxStatusReport(name="pr", observed_generation=1, status=status),
                    SandboxStatusReport(name="ghost", observed_generation=1, status=status),
                    SandboxStatusReport(name="pr", observed_generation=7, status=status),
                ]
            )
        )
    )
    assert ack.accepted == ["pr"]
    assert sorted((i.name, i.reason) for i in ack.ignored) == [
        ("ghost", "unknown"),
        ("pr", "stale"),
    ]
    shown = await acme.client.send(endpoints.get_sandbox("pr"))
    assert shown.status.phase == "Ready"
    assert shown.status.ready is True
    assert shown.status.observed_generation == 1
    assert shown.status.routing_key == shown.routing_key
    assert (await acme.client.send(endpoints.list_sandboxes(phase="Ready"))).items


async def test_an_older_report_does_not_overwrite_a_newer_one(
    acme: Org, agent_client: AgentFactory
) -> None:
    agent = agent_client(await register_cluster(acme))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr")))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr", description="v2")))
    ready = SandboxStatus(phase=Phase.READY, ready=True, reason="Ready")
    pending = SandboxStatus(phase=Phase.PROVISIONING, reason="ForksProgressing")
    await agent.send(
        endpoints.report_status(
            StatusReportBatch(
                reports=[SandboxStatusReport(name="pr", observed_generation=2, status=ready)]
            )
        )
    )
    ack = await agent.send(
        endpoints.report_status(
            StatusReportBatch(
                reports=[SandboxStatusReport(name="pr", observed_generation=1, status=pending)]
            )
        )
    )
    assert [i.reason for i in ack.ignored] == ["stale"]
    assert (await acme.client.send(endpoints.get_sandbox("pr"))).status.phase == "Ready"


async def test_an_agent_reaches_only_its_own_cluster(acme: Org, agent_client: AgentFactory) -> None:
    staging = agent_client(await register_cluster(acme, "staging"))
    await register_cluster(acme, "prod")
    await acme.client.send(endpoints.apply_sandbox(manifest("on-prod", cluster="prod")))
    await acme.client.send(endpoints.delete_sandbox("on-prod"))
    assert (await staging.send(endpoints.assignments(0, wait=0))).assignments == []
    now = datetime.now(UTC)
    ack = await staging.send(
        endpoints.report_status(
            StatusReportBatch(
                reports=[
                    SandboxStatusReport(
                        name="on-prod",
                        observed_generation=1,
                        status=SandboxStatus(phase=Phase.FAILED, expires_at=now),
                    )
                ],
                gone=[GoneConfirmation(name="on-prod")],
            )
        )
    )
    assert ack.accepted == []
    assert ack.removed == []
    assert (await acme.client.send(endpoints.get_sandbox("on-prod"))).deleting is True


async def test_a_batch_over_the_limit_is_refused(acme: Org, agent_client: AgentFactory) -> None:
    agent = agent_client(await register_cluster(acme))
    body = {"reports": [], "gone": [{"name": f"s{i}"} for i in range(501)]}
    with pytest.raises(errors.Invalid):
        await agent.send(endpoints.Call("POST", "/api/v1/agent/status", endpoints.check, json=body))


@pytest.mark.parametrize(
    ("where", "time"),
    [
        # Parses, but is before year 1 in UTC: stored, it made every portal page of it a 500.
        ("conditions.0.lastTransitionTime", "0001-01-01T00:00:00+23:59"),
        ("conditions.0.lastTransitionTime", "9999-12-31T23:59:00-23:59"),
        ("conditions.0.lastTransitionTime", "2026-01-01T00:00:00"),
        ("expiresAt", "0001-01-01T00:00:00+01:00"),
    ],
)
async def test_a_status_with_a_time_out_of_range_is_refused_and_nothing_stored(
    acme: Org, transport: httpx.ASGITransport, runtime: Runtime, where: str, time: str
) -> None:
    token = await register_cluster(acme)
    await acme.client.send(endpoints.apply_sandbox(manifest("pr")))
    await acme.client.send(endpoints.apply_sandbox(manifest("ok")))
    fine = {"phase": "Ready", "ready": True, "reason": "Ready"}
    bad: dict[str, object] = {
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": time}]
    }
    if where == "expiresAt":
        bad = {"expiresAt": time}
    body = {
        "reports": [
            {"name": "ok", "observedGeneration": 1, "status": fine},
            {"name": "pr", "observedGeneration": 1, "status": bad},
        ]
    }
    before = await snapshots.all_rows(runtime)
    async with httpx.AsyncClient(transport=transport, base_url="http://cp") as http:
        refused = await http.post(
            "/api/v1/agent/status", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert refused.status_code == 422, refused.text
    error = refused.json()
    assert error["code"] == "invalid"
    (found,) = error["details"]["errors"]
    assert found["loc"] == ["body", "reports", 1, "status"]
    assert where in found["msg"]
    assert await snapshots.all_rows(runtime) == before
