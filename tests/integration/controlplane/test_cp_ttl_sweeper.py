"""The control plane itself expires sandboxes: the background sweeper, not a test call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from tests.support.controlplane import BASE_URL, Clock, manifest
from tests.support.eventually import eventually_async

from sandboxmesh.client import AsyncControlPlaneClient, ClientConfig, endpoints
from sandboxmesh.controlplane import Settings, create_app
from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.repository import organizations
from sandboxmesh.controlplane.settings import SweeperSettings


@pytest.fixture
async def swept_app(settings: Settings, clock: Clock) -> AsyncIterator[FastAPI]:
    fast = settings.model_copy(update={"sweeper": SweeperSettings(interval_seconds=0.1)})
    app = create_app(fast, clock=clock)
    async with app.router.lifespan_context(app):
        yield app


async def test_the_sweeper_marks_expired_sandboxes(swept_app: FastAPI, clock: Clock) -> None:
    from datetime import timedelta

    runtime = swept_app.state.runtime
    async with runtime.unit_of_work() as tx:
        _, issued = await organizations.bootstrap(
            tx, name="acme", owner_email="o@acme.example", plan=Plan.TEAM, token_ttl=timedelta(1)
        )
    config = ClientConfig(url=BASE_URL, token=issued.plaintext)
    async with AsyncControlPlaneClient(
        config, transport=httpx.ASGITransport(app=swept_app)
    ) as client:
        await client.send(endpoints.register_cluster("staging"))
        ttl = {"duration": "5m"}
        await client.send(endpoints.apply_sandbox(manifest("brief", ttl=ttl)))
        clock.advance(minutes=6)

        async def deleting() -> bool:
            return bool((await client.send(endpoints.get_sandbox("brief"))).deleting)

        await eventually_async(deleting, timeout=10, what="the sweeper to expire the sandbox")


async def test_the_policys_default_ttl_expires_a_sandbox_without_one(
    swept_app: FastAPI, clock: Clock
) -> None:
    from datetime import timedelta

    runtime = swept_app.state.runtime
    async with runtime.unit_of_work() as tx:
        _, issued = await organizations.bootstrap(
            tx, name="acme", owner_email="o@acme.example", plan=Plan.TEAM, token_ttl=timedelta(1)
        )
    config = ClientConfig(url=BASE_URL, token=issued.plaintext)
    async with AsyncControlPlaneClient(
        config, transport=httpx.ASGITransport(app=swept_app)
    ) as client:
        await client.send(endpoints.register_cluster("staging"))
        await client.send(endpoints.set_policy({"defaultTtl": "10m", "maxTtl": "1h"}))
        await client.send(endpoints.apply_sandbox(manifest("defaulted")))
        await client.send(endpoints.apply_sandbox(manifest("longer", ttl={"duration": "1h"})))
        clock.advance(minutes=11)

        async def deleting() -> bool:
            return bool((await client.send(endpoints.get_sandbox("defaulted"))).deleting)

        await eventually_async(deleting, timeout=10, what="the sweeper to expire the sandbox")
        assert not (await client.send(endpoints.get_sandbox("longer"))).deleting
        audit = await client.send(endpoints.audit(action="sandbox.delete"))
        assert [(e.actor, e.target) for e in audit.items] == [("system:ttl", "sandbox/defaulted")]
