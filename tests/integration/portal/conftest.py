"""Fixtures of the portal's integration tests: the app on SQLite and on PostgreSQL, driven
through its HTML forms by an httpx client that keeps cookies like a browser (no browser),
mailing through a real SMTP server (aiosmtpd on loopback) that the tests read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from tests.integration.portal.portal_client import Portal
from tests.support.controlplane import Clock, mail_settings

from sandboxmesh.controlplane import Settings, create_app
from sandboxmesh.controlplane.settings import (
    AgentSettings,
    DatabaseSettings,
    PortalSettings,
    SweeperSettings,
)
from sandboxmesh.dev.demo.mail_catcher import MailCatcher

SESSION_TTL_SECONDS = 3600


@pytest.fixture
def portal_settings(database_url: str, mail_catcher: MailCatcher) -> Settings:
    return Settings(
        database=DatabaseSettings(url=database_url, pool_size=5),
        agent=AgentSettings(long_poll_max_seconds=5, stale_after_seconds=60),
        sweeper=SweeperSettings(interval_seconds=3600),
        portal=PortalSettings(
            session_ttl_seconds=SESSION_TTL_SECONDS,
            invitation_ttl_hours=24,
            verification_ttl_hours=48,
        ),
        mail=mail_settings(mail_catcher),
    )


@pytest.fixture
async def app(portal_settings: Settings, clock: Clock) -> AsyncIterator[FastAPI]:
    settings = portal_settings
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def portal(
    app: FastAPI, portal_settings: Settings, mail_catcher: MailCatcher
) -> AsyncIterator[Portal]:
    """A browser-like client with nobody signed in; `portal.another()` gives more."""
    made: list[httpx.AsyncClient] = []

    def client() -> httpx.AsyncClient:
        made.append(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                # HTTPS where the portal says so: its cookies are Secure outside development.
                base_url=portal_settings.public_url or "http://portal.test",
            )
        )
        return made[-1]

    yield Portal(client(), client, mail_catcher)
    for each in made:
        await each.aclose()


@pytest.fixture
async def owner(portal: Portal) -> Portal:
    """The owner of a freshly signed-up organisation `acme`."""
    await portal.sign_up("owner@acme.example", "correct horse battery", "acme")
    return portal
