"""Invitations by link: single-use, expiring, revocable, with the role the inviter chose."""

from __future__ import annotations

from tests.integration.portal.portal_client import (
    Portal,
    field_error,
    invite,
    join,
    revealed,
    text,
)
from tests.support.controlplane import Clock

PASSWORD = "correct horse battery"


async def test_an_invitation_lets_one_person_join_with_the_chosen_role(owner: Portal) -> None:
    await owner.submit("/teams", "/teams", {"name": "payments"})
    link = await invite(owner, "viewer", "payments")
    assert "/portal/invitations/smi_" in link
    # Shown once: the next visit of the page no longer has it.
    assert revealed((await owner.get("/teams")).text, "invitation-link") is None

    newcomer = owner.another()
    offer = await newcomer.client.get(link.split("portal.test", 1)[1])
    assert "Join acme" in text(offer.text)
    assert "viewer" in text(offer.text)
    joined = await join(newcomer, link, "Vic@Acme.Example", PASSWORD)
    assert joined.status_code == 303
    page = await newcomer.follow(joined)
    assert "vic@acme.example · viewer" in text(page.text)
    members = text((await owner.get("/teams")).text)
    assert "vic@acme.example viewer payments" in members

    reuse = owner.another()
    used = await reuse.client.get(link.split("portal.test", 1)[1])
    assert used.status_code == 404
    assert "cannot be used" in text(used.text)


async def test_an_existing_account_joins_with_its_password(owner: Portal) -> None:
    other = owner.another()
    await other.sign_up("bob@globex.example", PASSWORD, "globex")
    link = await invite(owner, "member")
    wrong = await join(owner.another(), link, "bob@globex.example", "not his password")
    assert wrong.status_code == 401
    assert "not the password" in (field_error(wrong.text, "password") or "")
    joined = await join(owner.another(), link, "bob@globex.example", PASSWORD)
    assert joined.status_code == 303
    # Bob now belongs to two organisations: the header offers both, and he can switch.
    assert 'id="org-switch"' not in (await owner.get("/sandboxes")).text  # one organisation
    header = (await other.get("/sandboxes")).text
    assert 'id="org-switch"' in header
    assert '<option value="acme">' in header
    assert '<option value="globex" selected>' in header
    elsewhere = await other.submit("/sandboxes", "/organization", {"organization": "initech"})
    assert elsewhere.status_code == 404
    switched = await other.submit("/sandboxes", "/organization", {"organization": "acme"})
    assert switched.status_code == 303
    assert "acme bob@globex.example · member" in text((await other.get("/sandboxes")).text)


async def test_a_member_cannot_join_twice_and_a_new_account_needs_a_good_password(
    owner: Portal,
) -> None:
    link = await invite(owner, "member")
    weak = await join(owner.another(), link, "new@acme.example", "short")
    assert weak.status_code == 422
    assert field_error(weak.text, "password") == "Use at least 10 characters."
    twice = await join(owner.another(), link, "owner@acme.example", PASSWORD)
    assert twice.status_code == 409
    assert "already a member" in (field_error(twice.text, "email") or "")
    # Refused attempts did not use the link up.
    assert (await join(owner.another(), link, "new@acme.example", PASSWORD)).status_code == 303


async def test_expired_and_revoked_invitations_cannot_be_used(owner: Portal, clock: Clock) -> None:
    expiring = await invite(owner, "member")
    revoked = await invite(owner, "member")
    page = await owner.get("/teams")
    prefix = "_".join(revoked.rsplit("/", 1)[1].split("_")[:2])
    assert prefix in page.text
    assert (await owner.submit("/teams", f"/invitations/{prefix}/revoke", {})).status_code == 303
    assert (await join(owner.another(), revoked, "a@acme.example", PASSWORD)).status_code == 404
    clock.advance(hours=25)
    assert (await owner.log_in("owner@acme.example", PASSWORD)).status_code == 303
    late = owner.another()
    assert (await late.client.get(expiring.split("portal.test", 1)[1])).status_code == 404


async def test_admins_cannot_invite_owners_and_members_cannot_invite(owner: Portal) -> None:
    admin = owner.another()
    await join(admin, await invite(owner, "admin"), "adm@acme.example", PASSWORD)
    refused = await admin.submit("/teams", "/invitations", {"role": "owner"})
    assert refused.status_code == 403
    assert "cannot grant the owner role" in text(refused.text)
    member = owner.another()
    await join(member, await invite(owner, "member"), "mem@acme.example", PASSWORD)
    page = await member.get("/teams")
    assert "Create invitation link" not in page.text
    assert (await member.submit("/teams", "/invitations", {"role": "viewer"})).status_code == 403
