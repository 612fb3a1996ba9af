"""Sandboxes as intent: apply by name, filters, routing keys, deletion, TTL."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from tests.support.controlplane import Clock, Org, manifest, register_cluster

from sandboxmesh.client import AsyncControlPlaneClient, endpoints, errors
from sandboxmesh.controlplane.repository.sandboxes import expire_due
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.spec import names
from sandboxmesh.spec.protocol import GoneConfirmation, StatusReportBatch


async def test_apply_creates_then_updates_by_name(acme: Org) -> None:
    await register_cluster(acme)
    created = await acme.client.send(endpoints.apply_sandbox(manifest("pr-1", labels={"pr": "1"})))
    assert created.generation == 1
    assert created.team == "default"
    assert created.status.phase == "Pending"
    assert created.status.routing_key == created.routing_key
    key = created.routing_key
    assert re.fullmatch(names.ROUTING_KEY_PATTERN, key)
    assert len(key) == 16

    same = await acme.client.send(endpoints.apply_sandbox(manifest("pr-1", labels={"pr": "1"})))
    assert same.generation == 1, "an identical apply changes nothing"
    changed = await acme.client.send(
        endpoints.apply_sandbox(manifest("pr-1", labels={"pr": "1"}, description="v2"))
    )
    assert changed.generation == 2
    assert changed.routing_key == key, "the routing key lives as long as the sandbox"
    assert changed.spec.description == "v2"


async def test_routing_keys_are_unique(acme: Org) -> None:
    await register_cluster(acme)
    keys = set()
    for i in range(20):
        keys.add((await acme.client.send(endpoints.apply_sandbox(manifest(f"pr-{i}")))).routing_key)
    assert len(keys) == 20


async def test_list_filters(acme: Org) -> None:
    await register_cluster(acme, "staging")
    await register_cluster(acme, "prod")
    await acme.client.send(endpoints.create_team("payments"))
    await acme.client.send(endpoints.apply_sandbox(manifest("a", labels={"pr": "1", "app": "x"})))
    await acme.client.send(
        endpoints.apply_sandbox(manifest("b", team="payments", labels={"pr": "2"}))
    )
    await acme.client.send(
        endpoints.apply_sandbox(manifest("c", cluster="prod", labels={"pr": "1"}))
    )
    await acme.client.send(endpoints.delete_sandbox("c"))

    async def names_of(**filters: object) -> list[str]:
        found = await acme.client.send(endpoints.list_sandboxes(**filters))  # type: ignore[arg-type]
        return [s.name for s in found.items]

    assert await names_of() == ["a", "b", "c"]
    assert await names_of(team="payments") == ["b"]
    assert await names_of(cluster="prod") == ["c"]
    assert await names_of(labels={"pr": "1"}) == ["a", "c"]
    assert await names_of(labels={"pr": "1", "app": "x"}) == ["a"]
    assert await names_of(phase="Terminating") == ["c"]
    assert await names_of(phase="Pending") == ["a", "b"]
    page = await acme.client.send(endpoints.list_sandboxes(limit=2))
    assert [s.name for s in page.items] == ["a", "b"]
    assert page.next == "b"
    rest = await acme.client.send(endpoints.list_sandboxes(after="b"))
    assert [s.name for s in rest.items] == ["c"]
    assert rest.next is None


async def test_delete_waits_for_the_agent(
    acme: Org, agent_client: Callable[..., AsyncControlPlaneClient]
) -> None:
    agent = agent_client(await register_cluster(acme))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    deleting = await acme.client.send(endpoints.delete_sandbox("pr-1"))
    assert deleting.deleting is True
    assert deleting.status.phase == "Terminating"
    # Still there, and applying it again is refused until it is gone.
    assert (await acme.client.send(endpoints.get_sandbox("pr-1"))).deleting is True
    with pytest.raises(errors.Conflict):
        await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    ack = await agent.send(
        endpoints.report_status(StatusReportBatch(gone=[GoneConfirmation(name="pr-1")]))
    )
    assert ack.removed == ["pr-1"]
    with pytest.raises(errors.NotFound):
        await acme.client.send(endpoints.get_sandbox("pr-1"))
    # The name is free again.
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))


async def test_the_agent_cannot_remove_a_live_sandbox(
    acme: Org, agent_client: Callable[..., AsyncControlPlaneClient]
) -> None:
    agent = agent_client(await register_cluster(acme))
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    ack = await agent.send(
        endpoints.report_status(StatusReportBatch(gone=[GoneConfirmation(name="pr-1")]))
    )
    assert [(i.name, i.reason) for i in ack.ignored] == [("pr-1", "not_deleting")]
    await acme.client.send(endpoints.get_sandbox("pr-1"))


async def test_ttl_expiry_marks_for_deletion(acme: Org, runtime: Runtime, clock: Clock) -> None:
    await register_cluster(acme)
    ttl = {"duration": "1h", "offsetFrom": "createdAt"}
    created = await acme.client.send(endpoints.apply_sandbox(manifest("short", ttl=ttl)))
    await acme.client.send(endpoints.apply_sandbox(manifest("long")))
    assert created.status.expires_at is not None
    async with runtime.unit_of_work() as tx:
        assert await expire_due(tx) == []
    clock.advance(minutes=61)
    async with runtime.unit_of_work() as tx:
        assert await expire_due(tx) == ["short"]
    short = await acme.client.send(endpoints.get_sandbox("short"))
    assert short.deleting is True
    assert (await acme.client.send(endpoints.get_sandbox("long"))).deleting is False
    events = (await acme.client.send(endpoints.audit(action="sandbox.delete"))).items
    assert events[0].actor == "system:ttl"


async def test_ttl_from_updated_at_moves_with_each_change(acme: Org) -> None:
    await register_cluster(acme)
    ttl = {"duration": "2h", "offsetFrom": "updatedAt"}
    first = await acme.client.send(endpoints.apply_sandbox(manifest("pr", ttl=ttl)))
    second = await acme.client.send(
        endpoints.apply_sandbox(manifest("pr", ttl=ttl, description="changed"))
    )
    assert first.status.expires_at is not None
    assert second.status.expires_at is not None
    assert second.status.expires_at > first.status.expires_at


async def test_racing_creates_of_one_name_make_one_sandbox(acme: Org) -> None:
    import asyncio

    await register_cluster(acme)

    async def apply() -> str:
        try:
            applied = await acme.client.send(endpoints.apply_sandbox(manifest("same")))
        except errors.Conflict as conflict:
            return conflict.code
        return str(applied.generation)

    outcomes = await asyncio.gather(*(apply() for _ in range(10)))
    # Every answer is a success (created, or unchanged) or a 409 to retry; never a 5xx.
    assert set(outcomes) <= {"1", "conflict"}
    listed = await acme.client.send(endpoints.list_sandboxes())
    assert [s.name for s in listed.items] == ["same"]
    assert (await acme.client.send(endpoints.organization())).active_sandboxes == 1
