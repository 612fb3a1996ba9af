"""Everything works from the keyboard, and the main pages fit a phone's 375 px and 1280 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tests.browser.conftest import PASSWORD, ContextFactory, Portal, mailed_link, shoot
from tests.browser.flows import (
    create_team,
    fill_sandbox_form,
    register_cluster,
    sign_up,
    unique,
)


def _focused(page: Page) -> str:
    return str(
        page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
    )


def _outline(page: Page) -> str:
    return str(page.evaluate("getComputedStyle(document.activeElement).outlineStyle"))


def test_sign_up_and_create_a_team_with_the_keyboard_only(page: Page, portal: Portal) -> None:
    org = unique("keys")
    email = f"owner@{org}.example"

    def ask() -> None:
        page.goto(portal.at("/signup"))
        page.keyboard.press("Tab")
        assert _focused(page) == "Skip to content"
        assert _outline(page) != "none"  # focus is visible
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        if _focused(page) != "f-email":  # the brand link comes first on pages without a menu
            page.keyboard.press("Tab")
        assert _focused(page) == "f-email"
        page.keyboard.type(email)
        page.keyboard.press("Tab")
        assert _focused(page) == "f-organization"
        page.keyboard.type(org)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    page.goto(mailed_link(portal, email, ask))
    for _ in range(4):  # skip link, brand: then the only field
        page.keyboard.press("Tab")
        if _focused(page) == "f-password":
            break
    assert _focused(page) == "f-password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert _focused(page) == "Confirm and continue"
    page.keyboard.press("Enter")
    expect(page).to_have_url(portal.at("/sandboxes"))

    page.goto(portal.at("/teams"))
    page.get_by_label("New team").focus()
    page.keyboard.type("payments")
    page.keyboard.press("Tab")
    assert _focused(page) == "Create team"
    assert _outline(page) != "none"
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Team payments created.")


def test_the_sandbox_form_is_usable_from_the_keyboard(page: Page, portal: Portal) -> None:
    org = unique("keyform")
    sign_up(page, portal, f"owner@{org}.example", org)
    register_cluster(page, portal, "staging")
    page.goto(portal.at("/new/sandbox"))
    page.get_by_label("Name", exact=True).focus()
    for value in ["pr-5", None, None, "from the keyboard", "shop", "checkout", "app", "img:5"]:
        if value is not None:
            page.keyboard.type(value)
        page.keyboard.press("Tab")
    assert _focused(page) == "f-env"
    page.keyboard.press("Tab")
    assert _focused(page) == "f-ttl"
    page.keyboard.press("ArrowDown")  # 1h
    page.keyboard.press("Tab")
    assert _focused(page) == "Create sandbox"
    page.keyboard.press("Enter")
    expect(page).to_have_url(portal.at("/sandboxes/pr-5"))
    expect(page.get_by_role("status").first).to_have_text("Sandbox pr-5 created.")


MAIN_PAGES = [
    ("sandboxes", "/sandboxes"),
    ("sandbox", "/sandboxes/pr-1"),
    ("new-sandbox", "/new/sandbox"),
    ("clusters", "/clusters"),
    ("cluster", "/clusters/staging"),
    ("teams", "/teams"),
    ("quotas", "/quotas"),
    ("usage", "/usage"),
    ("tokens", "/tokens"),
    ("audit", "/audit"),
]


@pytest.mark.parametrize("width", [375, 1280])
def test_the_main_pages_fit_the_screen(
    new_context: ContextFactory, portal: Portal, screenshots: Path, width: int
) -> None:
    page = new_context(width=width, height=800).new_page()
    org = unique(f"w{width}")
    page.goto(portal.at("/login"))
    shoot(page, screenshots, "login")
    sign_up(page, portal, f"owner-with-a-long-address@{org}.example", org)
    create_team(page, portal, "payments-and-checkout")
    register_cluster(page, portal, "staging")
    shoot(page, screenshots, "cluster-registered")
    fill_sandbox_form(
        page,
        portal,
        {"name": "pr-1", "namespace": "shop", "deployment": "checkout", "container": "app",
         "image": "registry.example.com/team/checkout-service:pr-1-with-a-long-tag"},
    )  # fmt: skip
    for name, path in MAIN_PAGES:
        page.goto(portal.at(path))
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} overflows by {overflow}px at {width}px"
        shoot(page, screenshots, name)
