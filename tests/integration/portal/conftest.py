"""Fixtures of the portal's integration tests: the app on SQLite and on PostgreSQL, driven
through its HTML forms by an httpx client that keeps cookies like a browser (no browser)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from tests.integration.portal.portal_client import Portal
from tests.support.controlplane import Clock

from sandboxmesh.controlplane import Settings, create_app
from sandboxmesh.controlplane.settings import (
    AgentSettings,
    DatabaseSettings,
    PortalSettings,
    SweeperSettings,
)

SESSION_TTL_SECONDS = 3600


@pytest.fixture
async def app(database_url: str, clock: Clock) -> AsyncIterator[FastAPI]:
    settings = Settings(
        database=DatabaseSettings(url=database_url, pool_size=5),
        agent=AgentSettings(long_poll_max_seconds=5, stale_after_seconds=60),
        sweeper=SweeperSettings(interval_seconds=3600),
        portal=PortalSettings(session_ttl_seconds=SESSION_TTL_SECONDS, invitation_ttl_hours=24),
    )
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def portal(app: FastAPI) -> AsyncIterator[Portal]:
    """A browser-like client with nobody signed in; `portal.another()` gives more."""
    made: list[httpx.AsyncClient] = []

    def client() -> httpx.AsyncClient:
        made.append(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test")
        )
        return made[-1]

    yield Portal(client(), client)
    for each in made:
        await each.aclose()


@pytest.fixture
async def owner(portal: Portal) -> Portal:
    """The owner of a freshly signed-up organisation `acme`."""
    await portal.sign_up("owner@acme.example", "correct horse battery", "acme")
    return portal
