"""What goes wrong, in a real browser: a wrong password, an expired session, a viewer trying to
delete (refused by the server, not only hidden), a form with invalid input, a forged POST."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect
from tests.browser.conftest import PASSWORD, SESSION_TTL_SECONDS, ContextFactory, Portal, shoot
from tests.browser.flows import (
    fill_sandbox_form,
    invite,
    join,
    log_in,
    register_cluster,
    sign_up,
    unique,
)


def test_a_wrong_password_is_refused_next_to_the_field(page: Page, portal: Portal) -> None:
    org = unique("pw")
    sign_up(page, portal, f"owner@{org}.example", org)
    page.get_by_role("button", name="Log out").click()
    log_in(page, portal, f"owner@{org}.example", "not my password at all")
    error = page.locator("#f-password-error")
    expect(error).to_have_text(
        "⚠ That email and password do not match an account.".removeprefix("⚠ ")
    )
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    described = page.get_by_label("Password").get_attribute("aria-describedby") or ""
    assert "f-password-error" in described.split()
    expect(page.get_by_label("Email")).to_have_value(f"owner@{org}.example")
    expect(page).to_have_url(portal.at("/login"))


def test_an_expired_session_leads_back_to_log_in_and_then_to_the_page(
    page: Page, portal: Portal
) -> None:
    org = unique("exp")
    sign_up(page, portal, f"owner@{org}.example", org)
    page.goto(portal.at("/usage"))
    expect(page.get_by_role("heading", name="Usage and billing")).to_be_visible()
    portal.clock.advance(seconds=SESSION_TTL_SECONDS + 1)
    try:
        page.goto(portal.at("/usage"))
        expect(page).to_have_url(portal.at("/login?next=/portal/usage"))
        page.get_by_label("Email").fill(f"owner@{org}.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(portal.at("/usage"))
    finally:
        portal.clock.offset -= portal.clock.offset


def test_a_viewer_cannot_delete_even_by_posting_the_form(
    new_context: ContextFactory, portal: Portal
) -> None:
    org = unique("view")
    owner = new_context().new_page()
    sign_up(owner, portal, f"owner@{org}.example", org)
    register_cluster(owner, portal, "staging")
    fill_sandbox_form(
        owner,
        portal,
        {"name": "pr-1", "namespace": "shop", "deployment": "checkout", "container": "app"},
    )
    expect(owner.locator("#sandbox-phase")).to_have_text("Pending")
    link = invite(owner, portal, "viewer", "default")

    viewer = new_context().new_page()
    join(viewer, portal, link, f"viewer@{org}.example")
    viewer.goto(portal.at("/sandboxes/pr-1"))
    expect(viewer.get_by_role("heading", name="pr-1")).to_be_visible()
    expect(viewer.get_by_role("link", name="Delete…")).to_have_count(0)
    viewer.goto(portal.at("/sandboxes/pr-1/delete"))
    expect(viewer.get_by_role("heading", name="Not allowed")).to_be_visible()
    # The page hides nothing the server would allow: a POST made by hand, with the viewer's
    # own valid CSRF token, is refused all the same.
    viewer.goto(portal.at("/sandboxes/pr-1"))
    token = viewer.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    status = viewer.evaluate(
        """async (token) => (await fetch('/portal/sandboxes/pr-1/delete', {
              method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},
              body: 'csrf_token=' + encodeURIComponent(token)})).status""",
        token,
    )
    assert status == 403
    owner.goto(portal.at("/sandboxes/pr-1"))
    expect(owner.locator("#sandbox-phase")).to_have_text("Pending")


def test_invalid_input_shows_errors_next_to_the_fields(
    page: Page, portal: Portal, screenshots: Path
) -> None:
    org = unique("form")
    sign_up(page, portal, f"owner@{org}.example", org)
    register_cluster(page, portal, "staging")
    fill_sandbox_form(
        page,
        portal,
        {
            "name": "PR 42!",
            "namespace": "",
            "deployment": "checkout",
            "container": "App",
            "image": "example/checkout:pr-42",
        },
    )
    expect(page.locator("#f-name-error")).to_contain_text("lowercase letters")
    expect(page.locator("#f-namespace-error")).to_have_text("This is required.")
    expect(page.locator("#f-container-error")).to_contain_text("lowercase letters")
    expect(page.locator("#f-deployment-error")).to_have_count(0)
    for field in ("Name", "Namespace", "Container"):
        expect(page.get_by_label(field, exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name", exact=True)).to_have_value("PR 42!")
    shoot(page, screenshots, "sandbox-form-errors")


def test_a_post_from_another_site_is_refused(page: Page, portal: Portal) -> None:
    org = unique("csrf")
    sign_up(page, portal, f"owner@{org}.example", org)
    status = page.evaluate(
        """async () => (await fetch('/portal/teams', {method: 'POST',
              headers: {'Content-Type': 'application/x-www-form-urlencoded'},
              body: 'name=planted'})).status"""
    )
    assert status == 403
    page.goto(portal.at("/teams"))
    expect(page.get_by_role("cell", name="planted")).to_have_count(0)
