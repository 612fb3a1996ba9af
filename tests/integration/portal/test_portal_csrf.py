"""Every state-changing request of the portal needs its CSRF token; without it, nothing moves."""

from __future__ import annotations

import pytest
from tests.integration.portal.portal_client import PREFIX, Portal, csrf_of, text

from sandboxmesh.controlplane.runtime import Runtime

PASSWORD = "correct horse battery"


async def _teams(runtime: Runtime, owner: Portal) -> list[str]:
    page = await owner.get("/teams")
    return [name for name in ("default", "payments") if f">{name}</th>" in page.text]


@pytest.mark.parametrize(
    "token",
    [None, "", "forged-token", "from-another-session"],
)
async def test_a_signed_in_post_without_its_token_is_refused(
    owner: Portal, runtime: Runtime, token: str | None
) -> None:
    data = {"name": "payments"}
    if token == "from-another-session":
        other = owner.another()
        await other.sign_up("eve@globex.example", PASSWORD, "globex")
        data["csrf_token"] = csrf_of((await other.get("/teams")).text)
    elif token is not None:
        data["csrf_token"] = token
    refused = await owner.client.post(PREFIX + "/teams", data=data)
    assert refused.status_code == 403
    assert "Form expired" in text(refused.text)
    assert await _teams(runtime, owner) == ["default"]
    accepted = await owner.submit("/teams", "/teams", {"name": "payments"})
    assert accepted.status_code == 303
    assert await _teams(runtime, owner) == ["default", "payments"]


async def test_htmx_requests_may_send_the_token_in_a_header(owner: Portal) -> None:
    token = csrf_of((await owner.get("/teams")).text)
    sent = await owner.client.post(
        PREFIX + "/teams", data={"name": "web"}, headers={"X-CSRF-Token": token}
    )
    assert sent.status_code == 303


async def test_forms_before_sign_in_use_a_double_submit_token(portal: Portal) -> None:
    await portal.sign_up("ada@acme.example", PASSWORD, "acme")
    await portal.submit("/sandboxes", "/logout", {})
    # A cross-site form cannot read the cookie's token: without it the log-in is refused.
    forged = portal.another()
    refused = await forged.client.post(
        PREFIX + "/login", data={"email": "ada@acme.example", "password": PASSWORD}
    )
    assert refused.status_code == 403
    mismatched = await forged.client.post(
        PREFIX + "/login",
        data={"email": "ada@acme.example", "password": PASSWORD, "csrf_token": "guess"},
    )
    assert mismatched.status_code == 403
    signup = await forged.client.post(
        PREFIX + "/signup",
        data={"email": "x@y.example", "password": PASSWORD, "organization": "planted"},
    )
    assert signup.status_code == 403
    assert (await forged.log_in("ada@acme.example", PASSWORD)).status_code == 303


async def test_log_out_needs_the_token_too(owner: Portal) -> None:
    refused = await owner.client.post(PREFIX + "/logout")
    assert refused.status_code == 403
    assert (await owner.get("/sandboxes")).status_code == 200
