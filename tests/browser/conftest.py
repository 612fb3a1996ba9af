"""Browser tests: Playwright drives Debian's headless Chromium (/usr/bin/chromium, installed by
`make test`; never a browser Playwright downloads) against a real control plane.

One browser per test module; every test gets fresh contexts (cookies of its own). Not one per
session: Playwright's sync API keeps an event loop running in the main thread while it is
open, and every later test that calls `asyncio.run` would fail (a package-scoped fixture in a
directory without `__init__.py` lives as long as the session). The control
plane runs in this process under uvicorn, on a port, with a clock the tests can move (an
expired session needs no sleeping); the agent, when a test needs one, reaches it over HTTP.
Screenshots of the pages go to artifacts/screenshots/ (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from tests.support.controlplane import Clock, mail_settings
from tests.support.eventually import eventually

from sandboxmesh.controlplane import Settings, create_app
from sandboxmesh.controlplane.settings import (
    AgentSettings,
    DatabaseSettings,
    PortalSettings,
    SweeperSettings,
)
from sandboxmesh.dev.demo.mail_catcher import MailCatcher, links_in
from sandboxmesh.dev.processes import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SESSION_TTL_SECONDS = 3600
PASSWORD = "correct horse battery"


@dataclass
class Portal:
    """The control plane under test: its URL, its clock, and the SMTP server its mail goes to."""

    url: str
    clock: Clock
    mail: MailCatcher

    def at(self, path: str) -> str:
        return f"{self.url}/portal{path}"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(f"LOUD SKIP: {CHROMIUM} is missing; `make test` installs Debian's chromium")
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Playwright starts Chromium with a fresh, temporary user-data dir of its own.
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    home = tmp_path_factory.mktemp("portal-home")
    clock = Clock()
    port = free_port()
    catcher = MailCatcher(port=free_port()).start()
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{home / 'controlplane.db'}"),
        agent=AgentSettings(long_poll_max_seconds=5, stale_after_seconds=60),
        sweeper=SweeperSettings(interval_seconds=3600),
        portal=PortalSettings(session_ttl_seconds=SESSION_TTL_SECONDS),
        mail=mail_settings(catcher),
        public_url=f"http://127.0.0.1:{port}",
        json_logs=False,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, clock=clock),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, name="portal-server", daemon=True)
    thread.start()
    eventually(lambda: server.started, timeout=60, what="the portal's server to start")
    try:
        yield Portal(url=f"http://127.0.0.1:{port}", clock=clock, mail=catcher)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        catcher.stop()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    if SCREENSHOTS.exists() and not os.environ.get("KEEP_SCREENSHOTS"):
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


ContextFactory = Callable[..., BrowserContext]


@pytest.fixture
def new_context(browser: Browser) -> Iterator[ContextFactory]:
    """Fresh browser contexts (cookies of their own), closed after the test."""
    made: list[BrowserContext] = []

    def make(width: int = 1280, height: int = 900) -> BrowserContext:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def page(new_context: ContextFactory) -> Page:
    return new_context().new_page()


def mailed_link(portal: Portal, email: str, ask: Callable[[], object]) -> str:
    """Do `ask` (which makes the portal mail `email` a link), then the link in that mail."""
    before = len(portal.mail.to(email))
    ask()
    return links_in(portal.mail.wait_for(email, count=before + 1, timeout=15))[0]


def shoot(page: Page, directory: Path, name: str) -> None:
    """A full-page screenshot, named by page and width."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    page.screenshot(path=str(directory / f"{name}-{width}.png"), full_page=True)
