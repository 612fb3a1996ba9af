"""The agent's session against the real control plane: a rotated token's client is closed
once nothing runs on it any more (one long-poll may still be waiting on it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from tests.support.controlplane import BASE_URL, Org, manifest, register_cluster
from tests.support.eventually import eventually_async

from sandboxmesh.agent.metrics import AgentMetrics
from sandboxmesh.agent.session import ControlPlaneSession
from sandboxmesh.agent.tokens import FileToken
from sandboxmesh.client import endpoints
from sandboxmesh.controlplane.runtime import Runtime


async def _rotate(owner: Org, token_file: Path) -> None:
    rotated = await owner.client.send(endpoints.rotate_cluster_token("staging", grace_seconds=3600))
    await asyncio.to_thread(token_file.write_text, rotated.token)


async def test_a_rotated_tokens_client_is_closed_when_its_last_call_returns(
    acme: Org, transport: httpx.ASGITransport, runtime: Runtime, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    await asyncio.to_thread(token_file.write_text, await register_cluster(acme))
    session = ControlPlaneSession(
        BASE_URL, FileToken(token_file), AgentMetrics(), transport=transport
    )
    try:
        revision = (await session.send(endpoints.assignments(0, wait=0))).revision
        poll = asyncio.create_task(session.send(endpoints.assignments(revision, wait=30)))

        async def waiting() -> bool:
            return runtime.hub.waiting > 0

        await eventually_async(waiting, timeout=10, what="the long-poll to wait")
        await _rotate(acme, token_file)
        await session.send(endpoints.assignments(0, wait=0))
        assert session.open_clients == 2  # the poll still waits on the old token's client

        await acme.client.send(endpoints.apply_sandbox(manifest("pr-1")))
        batch = await asyncio.wait_for(poll, timeout=10)
        assert [a.name for a in batch.assignments] == ["pr-1"]
        assert session.open_clients == 1

        for _ in range(5):  # nothing in flight: the old client is closed at the switch
            await _rotate(acme, token_file)
            await session.send(endpoints.assignments(0, wait=0))
            assert session.open_clients == 1
    finally:
        await session.aclose()
    assert session.open_clients == 0
