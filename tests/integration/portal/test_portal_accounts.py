"""Sign-up (by a mailed link), log-in and log-out, server-side sessions and their expiry, on
both stores."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from tests.integration.portal.conftest import SESSION_TTL_SECONDS
from tests.integration.portal.portal_client import Portal, field_error, path_of, text
from tests.support.controlplane import Clock

from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.store.tables import members, portal_sessions, users

PASSWORD = "correct horse battery"


async def test_sign_up_creates_the_organisation_and_its_owner(
    portal: Portal, runtime: Runtime
) -> None:
    answer, link = await portal.asking_for_link(
        "ada@acme.example",
        lambda: portal.submit(
            "/signup", "/signup", {"email": "Ada@Acme.Example", "organization": "acme"}
        ),
    )
    assert answer.status_code == 200
    assert "We sent a link to ada@acme.example" in text(answer.text)
    assert link is not None
    assert "/portal/verify/smv_" in link
    mail = portal.mail.to("ada@acme.example")[0]
    assert "creates the organisation acme" in mail.get_content()
    # Until the link is opened there is no account, no organisation, no session.
    async with runtime.unit_of_work() as tx:
        assert (await tx.conn.execute(sa.select(users))).first() is None
        assert (await tx.conn.execute(sa.select(members))).first() is None
    assert "sandboxmesh_session" not in portal.client.cookies
    confirm_page = await portal.client.get(path_of(link))
    assert "Confirm ada@acme.example" in text(confirm_page.text)
    response = await portal.confirm(link, PASSWORD)
    assert response.headers["location"] == "/portal/sandboxes"
    cookie = response.headers["set-cookie"]
    assert "sandboxmesh_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    page = await portal.follow(response)
    assert page.status_code == 200
    assert "acme" in text(page.text)
    assert "ada@acme.example · owner" in text(page.text)
    assert "Your address is confirmed." in text(page.text)
    async with runtime.unit_of_work() as tx:
        stored = (await tx.conn.execute(sa.select(users))).one()
        role = await tx.conn.scalar(sa.select(members.c.role))
        session_hash = await tx.conn.scalar(sa.select(portal_sessions.c.token_hash))
    assert stored.email == "ada@acme.example"
    assert stored.email_verified_at is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert role == "owner"
    # The cookie's token is not what the store keeps.
    token = portal.client.cookies["sandboxmesh_session"]
    assert token not in session_hash
    # The link worked once.
    assert (await portal.another().confirm(link, PASSWORD)).status_code == 404


async def test_sign_up_refuses_bad_input_next_to_each_field(portal: Portal) -> None:
    response = await portal.submit(
        "/signup", "/signup", {"email": "not-an-email", "organization": "Acme!"}
    )
    assert response.status_code == 422
    assert field_error(response.text, "email") == "Enter an email address such as ada@example.com."
    assert "lowercase letters" in (field_error(response.text, "organization") or "")
    assert 'value="not-an-email"' in response.text
    assert portal.mail.messages == []
    _, link = await portal.asking_for_link(
        "ada@acme.example",
        lambda: portal.submit("/signup", "/signup", {"email": "ada@acme.example"}),
    )
    assert link is not None
    weak = await portal.confirm(link, "short")
    assert weak.status_code == 422
    assert field_error(weak.text, "password") == "Use at least 10 characters."
    assert "short" not in weak.text  # a password is never sent back
    # A refused password did not use the link up.
    assert (await portal.confirm(link, PASSWORD)).status_code in (200, 303)


async def test_a_taken_organisation_is_an_error_and_a_taken_email_is_not_told(
    owner: Portal,
) -> None:
    other = owner.another()
    taken_org = await other.submit(
        "/signup", "/signup", {"email": "bob@example.com", "organization": "acme"}
    )
    assert taken_org.status_code == 409
    assert field_error(taken_org.text, "organization") == "This name is taken: choose another."
    # An address with an account gets the answer any address gets: a link in its mail.
    taken, link = await other.asking_for_link(
        "owner@acme.example",
        lambda: other.submit(
            "/signup", "/signup", {"email": "owner@acme.example", "organization": "globex"}
        ),
    )
    fresh, _ = await other.asking_for_link(
        "carol@example.com",
        lambda: other.submit(
            "/signup", "/signup", {"email": "carol@example.com", "organization": "initech"}
        ),
    )
    assert taken.status_code == fresh.status_code == 200
    assert text(taken.text).replace("owner@acme.example", "X") == text(fresh.text).replace(
        "carol@example.com", "X"
    )
    assert link is not None


async def test_log_in_with_the_right_password_and_refuse_a_wrong_one(owner: Portal) -> None:
    browser = owner.another()
    wrong = await browser.log_in("owner@acme.example", "not the password")
    assert wrong.status_code == 401
    assert "do not match" in (field_error(wrong.text, "password") or "")
    assert "sandboxmesh_session" not in browser.client.cookies
    unknown = await browser.log_in("nobody@acme.example", PASSWORD)
    assert unknown.status_code == 401
    assert field_error(unknown.text, "password") == field_error(wrong.text, "password")

    # No browser sends NUL; PostgreSQL could not even look such an email up.
    crafted = await browser.log_in("owner\x00@acme.example", PASSWORD)
    assert crafted.status_code == 422
    assert "NUL" in text(crafted.text)

    right = await browser.log_in("OWNER@acme.example", PASSWORD)
    assert right.status_code == 303
    assert (await browser.follow(right)).status_code == 200


async def test_log_in_goes_back_to_the_page_asked_for_but_never_off_site(owner: Portal) -> None:
    browser = owner.another()
    asked = await browser.get("/usage?month=2026-01")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/portal/login?next=/portal/usage%3Fmonth%3D2026-01"
    page = await browser.client.get(asked.headers["location"])
    assert 'name="next" value="/portal/usage?month=2026-01"' in page.text
    back = await browser.submit(
        "/login",
        "/login",
        {
            "email": "owner@acme.example",
            "password": PASSWORD,
            "next": "/portal/usage?month=2026-01",
        },
    )
    assert back.headers["location"] == "/portal/usage?month=2026-01"
    elsewhere = owner.another()
    away = await elsewhere.submit(
        "/login",
        "/login",
        {"email": "owner@acme.example", "password": PASSWORD, "next": "//evil.example/x"},
    )
    assert away.headers["location"] == "/portal/sandboxes"


async def test_log_out_ends_the_session_on_the_server(owner: Portal) -> None:
    stolen = owner.client.cookies["sandboxmesh_session"]
    out = await owner.submit("/sandboxes", "/logout", {})
    assert out.status_code == 303
    assert out.headers["location"] == "/portal/login"
    # Even a copy of the cookie kept from before no longer opens anything.
    replay = owner.another()
    replay.client.cookies.set("sandboxmesh_session", stolen)
    page = await replay.get("/sandboxes")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/portal/login")


async def test_an_expired_session_sends_the_member_to_log_in(owner: Portal, clock: Clock) -> None:
    assert (await owner.get("/sandboxes")).status_code == 200
    clock.advance(seconds=SESSION_TTL_SECONDS - 5)
    assert (await owner.get("/sandboxes")).status_code == 200
    clock.advance(seconds=10)
    expired = await owner.get("/sandboxes")
    assert expired.status_code == 303
    assert expired.headers["location"] == "/portal/login?next=/portal/sandboxes"
    # htmx's polling gets told to move the whole page, not a log-in form in a table cell.
    polled = await owner.get("/sandboxes/_rows", headers={"HX-Request": "true"})
    assert polled.headers["HX-Redirect"].startswith("/portal/login")
    again = await owner.log_in("owner@acme.example", PASSWORD)
    assert again.status_code == 303


async def test_a_removed_member_is_signed_out_at_once(owner: Portal, runtime: Runtime) -> None:
    async with runtime.unit_of_work() as tx:
        await tx.conn.execute(members.update().values(role="viewer"))
    assert "· viewer" in text((await owner.get("/sandboxes")).text)
    async with runtime.unit_of_work() as tx:
        await tx.conn.execute(sa.delete(members))
    assert (await owner.get("/sandboxes")).status_code == 303
    refused = await owner.another().log_in("owner@acme.example", PASSWORD)
    assert refused.status_code == 403
    assert "not a member of any organisation" in (field_error(refused.text, "email") or "")


async def test_the_root_leads_to_the_portal_and_the_api_keeps_json(
    portal: Portal, app: object
) -> None:
    root = await portal.client.get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "/portal/"
    home = await portal.get("/")
    assert home.headers["location"] == "/portal/login"
    missing_page = await portal.get("/no/such/page")
    assert missing_page.status_code == 404
    assert missing_page.headers["content-type"].startswith("text/html")
    assert "There is no page at this address." in text(missing_page.text)
    api = await portal.client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.json()["code"] == "not_found"
    unauthenticated = await portal.client.get("/api/v1/sandboxes")
    assert unauthenticated.status_code == 401
    assert set(unauthenticated.json()) == {"code", "message", "details"}


async def test_portal_pages_carry_security_headers(owner: Portal) -> None:
    page = await owner.get("/sandboxes")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    asset = await owner.client.get("/portal/static/vendor/htmx-2.0.11.min.js")
    assert asset.status_code == 200
    assert "htmx" in asset.text[:2000]
    assert isinstance(owner.client, httpx.AsyncClient)


async def test_forged_and_malformed_links_open_nothing(portal: Portal) -> None:
    _, link = await portal.asking_for_link(
        "ada@acme.example",
        lambda: portal.submit("/signup", "/signup", {"email": "ada@acme.example"}),
    )
    assert link is not None
    real = link.rsplit("/", 1)[1]
    prefix = "_".join(real.split("_")[:2])
    for forged in (
        f"{prefix}_{'A' * 40}",  # the right prefix, a guessed secret
        real.replace("smv_", "smi_"),  # the secret as another kind of token
        "smv_nothing",
        "x" * 200,
    ):
        page = await portal.get(f"/verify/{forged}")
        assert page.status_code == 404, forged
        assert "This link cannot be used" in text(page.text)
        posted = await portal.confirm(f"http://x/portal/verify/{forged}", PASSWORD)
        assert posted.status_code == 404
    assert (await portal.get(f"/verify/{'x' * 201}")).status_code == 422
    # None of that used the real link up (it proves the address; no organisation yet).
    confirmed = await portal.confirm(link, PASSWORD)
    assert confirmed.status_code == 200
    assert "ada@acme.example is confirmed" in text(confirmed.text)
    assert "not a member of any organisation yet" in text(confirmed.text)
