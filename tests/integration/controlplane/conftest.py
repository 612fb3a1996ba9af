"""Fixtures of the control-plane suite: every test runs against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from tests.support.controlplane import BASE_URL, Clock, Org

from sandboxmesh.client import AsyncControlPlaneClient, ClientConfig
from sandboxmesh.controlplane import Settings, create_app
from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.repository import organizations
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.settings import (
    AgentSettings,
    DatabaseSettings,
    SweeperSettings,
)


def settings_for(url: str, **overrides: object) -> Settings:
    settings = Settings(
        database=DatabaseSettings(url=url, pool_size=20),
        agent=AgentSettings(long_poll_max_seconds=10, stale_after_seconds=60),
        sweeper=SweeperSettings(interval_seconds=3600),
    )
    return settings.model_copy(update=overrides)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[FastAPI]:
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def transport(app: FastAPI) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)


OrgFactory = Callable[..., Awaitable[Org]]


@pytest.fixture
async def make_org(runtime: Runtime, transport: httpx.ASGITransport) -> AsyncIterator[OrgFactory]:
    made: list[AsyncControlPlaneClient] = []

    async def make(name: str, *, plan: Plan = Plan.TEAM, email: str | None = None) -> Org:
        async with runtime.unit_of_work() as tx:
            _, issued = await organizations.bootstrap(
                tx,
                name=name,
                owner_email=email or f"owner@{name}.example",
                plan=plan,
                token_ttl=timedelta(days=1),
            )
        client = AsyncControlPlaneClient(
            ClientConfig(url=BASE_URL, token=issued.plaintext), transport=transport
        )
        made.append(client)
        return Org(name=name, token=issued.plaintext, client=client)

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
async def acme(make_org: OrgFactory) -> Org:
    return await make_org("acme")


@pytest.fixture
async def agent_client(
    transport: httpx.ASGITransport,
) -> AsyncIterator[Callable[..., AsyncControlPlaneClient]]:
    made: list[AsyncControlPlaneClient] = []

    def make(token: str, version: str = "agent/0.1.0") -> AsyncControlPlaneClient:
        client = AsyncControlPlaneClient(
            ClientConfig(url=BASE_URL, token=token, agent_version=version), transport=transport
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
