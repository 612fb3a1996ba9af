"""Clusters: registration, agent tokens (rotate with grace, revoke), connection state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from tests.support.controlplane import Clock, Org, manifest, register_cluster
from tests.support.eventually import eventually_async

from sandboxmesh.client import AsyncControlPlaneClient, endpoints, errors
from sandboxmesh.controlplane.runtime import Runtime


async def test_register_shows_the_token_once_and_agents_authenticate(
    acme: Org, agent_client: Callable[..., AsyncControlPlaneClient]
) -> None:
    token = await register_cluster(acme, "staging")
    assert token.startswith("smc_")
    cluster = await acme.client.send(endpoints.get_cluster("staging"))
    assert cluster.connection == "never-connected"
    assert cluster.last_seen_at is None
    tokens = await acme.client.send(endpoints.list_cluster_tokens("staging"))
    assert len(tokens.items) == 1
    assert token.startswith(tokens.items[0].prefix)
    assert token not in str(tokens)

    agent = agent_client(token, "agent/1.2.3")
    batch = await agent.send(endpoints.assignments(0, wait=0))
    assert batch.resync is True
    assert batch.assignments == []
    cluster = await acme.client.send(endpoints.get_cluster("staging"))
    assert cluster.connection == "connected"
    assert cluster.agent_version == "agent/1.2.3"
    with pytest.raises(errors.Conflict):
        await register_cluster(acme, "staging")


async def test_connection_goes_stale(
    acme: Org, clock: Clock, agent_client: Callable[..., AsyncControlPlaneClient]
) -> None:
    token = await register_cluster(acme)
    await agent_client(token).send(endpoints.assignments(0, wait=0))
    clock.advance(seconds=120)  # stale_after is 60s in the suite
    assert (await acme.client.send(endpoints.get_cluster("staging"))).connection == "stale"


async def test_rotation_keeps_the_old_token_for_the_grace_period(
    acme: Org, clock: Clock, agent_client: Callable[..., AsyncControlPlaneClient]
) -> None:
    old = await register_cluster(acme)
    rotated = await acme.client.send(endpoints.rotate_cluster_token("staging", grace_seconds=600))
    new = rotated.token
    assert new != old
    await agent_client(old).send(endpoints.assignments(0, wait=0))
    await agent_client(new).send(endpoints.assignments(0, wait=0))
    clock.advance(seconds=601)
    with pytest.raises(errors.Unauthorized):
        await agent_client(old).send(endpoints.assignments(0, wait=0))
    await agent_client(new).send(endpoints.assignments(0, wait=0))


async def test_revoke_is_refused_from_the_next_call(
    acme: Org, agent_client: Callable[..., AsyncControlPlaneClient]
) -> None:
    token = await register_cluster(acme)
    agent = agent_client(token)
    await agent.send(endpoints.assignments(0, wait=0))
    tokens = await acme.client.send(endpoints.revoke_cluster_tokens("staging"))
    assert all(t.revoked_at is not None for t in tokens.items)
    with pytest.raises(errors.Unauthorized):
        await agent.send(endpoints.assignments(0, wait=0))


@pytest.mark.parametrize("how", ["revoked", "expired"])
async def test_a_waiting_long_poll_answers_nothing_once_its_token_is_dead(
    acme: Org,
    clock: Clock,
    runtime: Runtime,
    agent_client: Callable[..., AsyncControlPlaneClient],
    how: str,
) -> None:
    token = await register_cluster(acme)
    agent = agent_client(token)
    revision = (await agent.send(endpoints.assignments(0, wait=0))).revision
    waiting = asyncio.create_task(agent.send(endpoints.assignments(revision, wait=9)))

    async def poll_waits() -> bool:
        return runtime.hub.waiting > 0

    await eventually_async(poll_waits, timeout=5, what="the poll to wait for a change")
    if how == "revoked":
        await acme.client.send(endpoints.revoke_cluster_tokens("staging"))
    else:
        await acme.client.send(endpoints.rotate_cluster_token("staging", grace_seconds=60))
        clock.advance(seconds=61)
    # The change wakes the poll: it must not carry the new sandbox to the dead token.
    await acme.client.send(endpoints.apply_sandbox(manifest("secret-plans")))
    with pytest.raises(errors.Unauthorized):
        await asyncio.wait_for(waiting, timeout=8)


async def test_revoke_one_token_by_prefix(
    acme: Org, agent_client: Callable[..., AsyncControlPlaneClient]
) -> None:
    old = await register_cluster(acme)
    new = (await acme.client.send(endpoints.rotate_cluster_token("staging"))).token
    old_prefix = "_".join(old.split("_")[:2])
    await acme.client.send(endpoints.revoke_cluster_tokens("staging", prefix=old_prefix))
    with pytest.raises(errors.Unauthorized):
        await agent_client(old).send(endpoints.assignments(0, wait=0))
    await agent_client(new).send(endpoints.assignments(0, wait=0))


async def test_user_tokens_do_not_open_the_agent_api_nor_cluster_tokens_the_user_api(
    acme: Org, agent_client: Callable[..., AsyncControlPlaneClient]
) -> None:
    token = await register_cluster(acme)
    with pytest.raises(errors.Unauthorized):
        await agent_client(acme.token).send(endpoints.assignments(0, wait=0))
    with pytest.raises(errors.Unauthorized):
        await agent_client(token).send(endpoints.list_teams())


async def test_a_cluster_with_sandboxes_cannot_be_deleted(acme: Org) -> None:
    await register_cluster(acme)
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
    with pytest.raises(errors.Conflict):
        await acme.client.send(endpoints.delete_cluster("staging"))
    await register_cluster(acme, "empty")
    await acme.client.send(endpoints.delete_cluster("empty"))
    with pytest.raises(errors.NotFound):
        await acme.client.send(endpoints.get_cluster("empty"))
