"""What a person does in the portal, step by step, as the browser tests need it."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect
from tests.browser.conftest import PASSWORD, Portal, mailed_link


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def confirm(page: Page, link: str) -> None:
    """Open a mailed link, choose the password there."""
    page.goto(link)
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm and continue").click()


def sign_up(page: Page, portal: Portal, email: str, organization: str) -> None:
    """The form, the mail, its link, the password: as a person signs up."""

    def ask() -> None:
        page.goto(portal.at("/signup"))
        page.get_by_label("Email").fill(email)
        page.get_by_label("Organisation name").fill(organization)
        page.get_by_role("button", name="Email me a link").click()
        expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    confirm(page, mailed_link(portal, email, ask))
    expect(page).to_have_url(portal.at("/sandboxes"))
    expect(page.get_by_role("heading", name="Sandboxes", level=1)).to_be_visible()


def log_in(page: Page, portal: Portal, email: str, password: str = PASSWORD) -> None:
    page.goto(portal.at("/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def create_team(page: Page, portal: Portal, name: str) -> None:
    page.goto(portal.at("/teams"))
    page.get_by_label("New team").fill(name)
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("status")).to_have_text(f"Team {name} created.")


def register_cluster(page: Page, portal: Portal, name: str) -> str:
    """Register a cluster; returns the agent token the page shows (once)."""
    page.goto(portal.at("/clusters"))
    page.get_by_label("Cluster name").fill(name)
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(portal.at(f"/clusters/{name}"))
    token = page.locator("#cluster-token").inner_text().strip()
    assert token.startswith("smc_")
    return token


def invite(page: Page, portal: Portal, role: str, team: str | None = None) -> str:
    page.goto(portal.at("/teams"))
    page.get_by_label("Role", exact=True).select_option(role)
    if team:
        page.get_by_label("Team (optional)").select_option(team)
    page.get_by_role("button", name="Create invitation link").click()
    return page.locator("#invitation-link").inner_text().strip()


def join(page: Page, portal: Portal, link: str, email: str) -> None:
    """A newcomer joins by invitation: asks for the mail, opens its link, chooses a password."""

    def ask() -> None:
        page.goto(link)
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Email me a link to join").click()
        expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    confirm(page, mailed_link(portal, email, ask))
    expect(page.get_by_role("heading", name="Sandboxes", level=1)).to_be_visible()


def fill_sandbox_form(page: Page, portal: Portal, fields: dict[str, str]) -> None:
    """Fill the sandbox form's fields (by name: name, team, namespace...) and submit it."""
    page.goto(portal.at("/new/sandbox"))
    form = page.locator("form[action$='/new/sandbox']")
    for name, value in fields.items():
        field = form.locator(f"#f-{name}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.get_by_role("button", name="Create sandbox").click()
