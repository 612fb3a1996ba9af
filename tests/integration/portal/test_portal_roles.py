"""Roles are enforced by the server exactly as the API enforces them: hidden buttons are a
courtesy, the refusal is the check. And tenancy: nothing of another organisation is reachable."""

from __future__ import annotations

import re

import pytest
from tests.integration.portal.portal_client import (
    Portal,
    create_sandbox,
    invite,
    join,
    register_cluster,
    text,
)

from sandboxmesh.controlplane.runtime import Runtime

PASSWORD = "correct horse battery"


@pytest.fixture
async def sandbox(owner: Portal) -> str:
    await register_cluster(owner)
    created = await create_sandbox(owner, name="pr-7")
    assert created.status_code == 303, text(created.text)[:800]
    return "pr-7"


async def _member(owner: Portal, role: str, email: str, team: str = "") -> Portal:
    browser = owner.another()
    joined = await join(browser, await invite(owner, role, team), email, PASSWORD)
    assert joined.status_code == 303
    return browser


async def test_a_viewer_sees_no_delete_and_the_server_refuses_it(
    owner: Portal, sandbox: str, runtime: Runtime
) -> None:
    viewer = await _member(owner, "viewer", "vic@acme.example", "default")
    detail = await viewer.get(f"/sandboxes/{sandbox}")
    assert detail.status_code == 200
    assert "Delete…" not in detail.text
    assert "New sandbox" not in (await viewer.get("/sandboxes")).text
    confirm = await viewer.get(f"/sandboxes/{sandbox}/delete")
    assert confirm.status_code == 403
    # A hand-made POST with a valid CSRF token is refused by the server all the same.
    refused = await viewer.submit(f"/sandboxes/{sandbox}", f"/sandboxes/{sandbox}/delete", {})
    assert refused.status_code == 403
    assert "you may not change the sandboxes of team 'default'" in text(refused.text)
    async with runtime.unit_of_work() as tx:
        rows = (await tx.conn.exec_driver_sql("SELECT deleting FROM sandboxes")).all()
    assert [bool(r[0]) for r in rows] == [False]
    assert "Delete…" in (await owner.get(f"/sandboxes/{sandbox}")).text


async def test_a_member_writes_only_the_sandboxes_of_their_own_teams(
    owner: Portal, sandbox: str
) -> None:
    await owner.submit("/teams", "/teams", {"name": "payments"})
    member = await _member(owner, "member", "mia@acme.example", "payments")
    page = await member.get("/new/sandbox")
    assert '<option value="payments"' in page.text
    assert '<option value="default"' not in page.text
    refused = await create_sandbox(member, name="pr-8", team="default")
    assert refused.status_code == 403
    assert "You may not change the sandboxes of team 'default'" in text(refused.text)
    assert (
        await member.submit(f"/sandboxes/{sandbox}", f"/sandboxes/{sandbox}/delete", {})
    ).status_code == 403
    own = await create_sandbox(member, name="pr-9", team="payments")
    assert own.status_code == 303
    deleted = await member.submit("/sandboxes/pr-9", "/sandboxes/pr-9/delete", {})
    assert deleted.status_code == 303
    assert "Deletion of pr-9 requested" in text((await member.follow(deleted)).text)


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("/teams", {"name": "ops"}),
        ("/clusters", {"name": "prod"}),
        ("/clusters/staging/rotate", {}),
        ("/clusters/staging/revoke", {}),
        ("/quotas/organization", {"max_sandboxes": "3"}),
        ("/quotas/plan", {"plan": "enterprise"}),
        ("/members/owner@acme.example/role", {"role": "viewer"}),
        ("/members/owner@acme.example/remove", {}),
    ],
)
async def test_members_cannot_manage_the_organisation(
    owner: Portal, sandbox: str, action: str, data: dict[str, str]
) -> None:
    member = await _member(owner, "member", "mia@acme.example", "default")
    refused = await member.submit("/sandboxes", action, data)
    assert refused.status_code == 403, text(refused.text)[:500]
    assert "Not allowed" in text(refused.text)


async def test_admins_manage_but_only_owners_touch_owners_and_plans(owner: Portal) -> None:
    admin = await _member(owner, "admin", "adm@acme.example")
    assert (await admin.submit("/teams", "/teams", {"name": "ops"})).status_code == 303
    teams = await admin.get("/teams")
    assert 'Remove<span class="visually-hidden"> owner@acme.example' not in teams.text
    demote = await admin.submit("/teams", "/members/owner@acme.example/role", {"role": "viewer"})
    assert demote.status_code == 403
    assert (await admin.submit("/quotas", "/quotas/plan", {"plan": "team"})).status_code == 403
    assert (await admin.get("/audit")).status_code == 200
    # The last owner cannot demote themselves: the page says why.
    alone = await owner.submit("/teams", "/members/owner@acme.example/role", {"role": "admin"})
    assert "keeps at least one owner" in text((await owner.follow(alone)).text)


async def test_viewers_do_not_see_the_audit_log(owner: Portal) -> None:
    viewer = await _member(owner, "viewer", "vic@acme.example")
    assert "Audit log" not in (await viewer.get("/sandboxes")).text
    assert (await viewer.get("/audit")).status_code == 403


async def test_nothing_of_another_organisation_is_reachable(owner: Portal, sandbox: str) -> None:
    stranger = owner.another()
    await stranger.sign_up("eve@globex.example", PASSWORD, "globex")
    assert (await stranger.get(f"/sandboxes/{sandbox}")).status_code == 404
    assert sandbox not in (await stranger.get("/sandboxes")).text
    assert (await stranger.get("/clusters/staging")).status_code == 404
    refused = await stranger.submit("/sandboxes", f"/sandboxes/{sandbox}/delete", {})
    assert refused.status_code == 404
    assert (await stranger.submit("/sandboxes", "/clusters/staging/rotate", {})).status_code == 404
    assert "owner@acme.example" not in (await stranger.get("/teams")).text
    assert "pr-7" not in (await stranger.get("/usage")).text
    assert (await owner.get(f"/sandboxes/{sandbox}")).status_code == 200


async def test_an_admin_cannot_revoke_an_owners_token_in_the_portal(owner: Portal) -> None:
    created = await owner.submit("/tokens", "/tokens", {"name": "ci", "expires_in_days": "1"})
    assert created.status_code == 303
    found = re.search(r"/tokens/(smu_[0-9a-f]+)/revoke", (await owner.get("/tokens")).text)
    assert found is not None
    prefix = found[1]
    admin = await _member(owner, "admin", "adm@acme.example")
    await admin.submit("/tokens", "/tokens", {"name": "mine", "expires_in_days": "1"})
    listed = (await admin.get("/tokens")).text
    assert f"<code>{prefix}…</code>" in listed  # admins see everyone's tokens...
    assert f"/tokens/{prefix}/revoke" not in listed  # ...but get no button for an owner's
    assert listed.count("/revoke") == 1  # their own
    refused = await admin.submit("/tokens", f"/tokens/{prefix}/revoke", {})
    assert refused.status_code == 403
    assert "only owners may change owner@acme.example" in text(refused.text)
    assert "revoked" not in text((await owner.get("/tokens")).text).lower()
