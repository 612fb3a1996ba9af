"""Invitations by link: single-use, expiring, revocable, with the role the inviter chose."""

from __future__ import annotations

from tests.integration.portal.portal_client import (
    Portal,
    accept,
    ask_to_join,
    field_error,
    invite,
    join,
    path_of,
    revealed,
    text,
)
from tests.support.controlplane import Clock

PASSWORD = "correct horse battery"


async def test_an_invitation_lets_one_person_join_with_the_chosen_role(owner: Portal) -> None:
    await owner.submit("/teams", "/teams", {"name": "payments"})
    link = await invite(owner, "viewer", "payments")
    # Built from the configured public address, never from the request's Host header.
    assert link.startswith("http://127.0.0.1:8080/portal/invitations/smi_")
    # Shown once: the next visit of the page no longer has it.
    assert revealed((await owner.get("/teams")).text, "invitation-link") is None

    newcomer = owner.another()
    offer = await newcomer.client.get(path_of(link))
    assert "Join acme" in text(offer.text)
    assert "viewer" in text(offer.text)
    asked, mailed = await ask_to_join(newcomer, link, "Vic@Acme.Example")
    assert asked.status_code == 200
    assert "We sent a link to vic@acme.example" in text(asked.text)
    assert mailed is not None
    assert "makes you a member of acme" in newcomer.mail.to("vic@acme.example")[0].get_content()
    # Asking used nothing: the invitation still opens until the mailed link is confirmed.
    assert (await owner.another().client.get(path_of(link))).status_code == 200
    joined = await newcomer.confirm(mailed, PASSWORD)
    assert joined.status_code == 303
    page = await newcomer.follow(joined)
    assert "vic@acme.example · viewer" in text(page.text)
    members = text((await owner.get("/teams")).text)
    assert "vic@acme.example viewer payments" in members

    used = await owner.another().client.get(path_of(link))
    assert used.status_code == 404
    assert "cannot be used" in text(used.text)


async def test_an_existing_account_signs_in_and_accepts(owner: Portal) -> None:
    other = owner.another()
    await other.sign_up("bob@globex.example", PASSWORD, "globex")
    link = await invite(owner, "member")
    bob = owner.another()
    offer = await bob.client.get(path_of(link))
    assert f"/portal/login?next=/portal/invitations/{link.rsplit('/', 1)[1]}" in offer.text
    wrong = await bob.log_in("bob@globex.example", "not his password")
    assert wrong.status_code == 401
    assert (await bob.log_in("bob@globex.example", PASSWORD)).status_code == 303
    joined = await accept(bob, link)
    assert joined.status_code == 303
    # Bob now belongs to two organisations: the header offers both, and he can switch.
    assert 'id="org-switch"' not in (await owner.get("/sandboxes")).text  # one organisation
    header = (await bob.get("/sandboxes")).text
    assert 'id="org-switch"' in header
    assert '<option value="acme" selected>' in header
    assert '<option value="globex">' in header
    elsewhere = await bob.submit("/sandboxes", "/organization", {"organization": "initech"})
    assert elsewhere.status_code == 404
    switched = await bob.submit("/sandboxes", "/organization", {"organization": "globex"})
    assert switched.status_code == 303
    assert "globex bob@globex.example · owner" in text((await bob.get("/sandboxes")).text)
    # The next sign-in lands where he last worked, not in the first organisation by name.
    again = owner.another()
    assert (await again.log_in("bob@globex.example", PASSWORD)).status_code == 303
    assert "globex bob@globex.example · owner" in text((await again.get("/sandboxes")).text)


async def test_asking_to_join_does_not_tell_whether_the_address_has_an_account(
    owner: Portal,
) -> None:
    await owner.another().sign_up("bob@globex.example", PASSWORD, "globex")
    link = await invite(owner, "member")
    known, _ = await ask_to_join(owner.another(), link, "bob@globex.example")
    unknown, _ = await ask_to_join(owner.another(), link, "nobody@globex.example")
    assert known.status_code == unknown.status_code == 200
    assert text(known.text).replace("bob", "X") == text(unknown.text).replace("nobody", "X")


async def test_a_member_cannot_join_twice(owner: Portal) -> None:
    link = await invite(owner, "member")
    twice = await accept(owner, link)
    assert twice.status_code == 409
    assert "already" in (field_error(twice.text, "email") or "")
    # A refused attempt did not use the link up.
    assert (await join(owner.another(), link, "new@acme.example", PASSWORD)).status_code == 303


async def test_expired_and_revoked_invitations_cannot_be_used(owner: Portal, clock: Clock) -> None:
    expiring = await invite(owner, "member")
    revoked = await invite(owner, "member")
    page = await owner.get("/teams")
    prefix = "_".join(revoked.rsplit("/", 1)[1].split("_")[:2])
    assert prefix in page.text
    assert (await owner.submit("/teams", f"/invitations/{prefix}/revoke", {})).status_code == 303
    assert (await join(owner.another(), revoked, "a@acme.example", PASSWORD)).status_code == 404
    # A link mailed before the invitation ran out joins nothing after it.
    _, mailed = await ask_to_join(owner.another(), expiring, "late@acme.example")
    assert mailed is not None
    clock.advance(hours=25)
    assert (await owner.log_in("owner@acme.example", PASSWORD)).status_code == 303
    late = owner.another()
    assert (await late.client.get(path_of(expiring))).status_code == 404
    confirmed = await late.confirm(mailed, PASSWORD)
    assert confirmed.status_code == 200
    assert "invitation was used, revoked or expired" in text(confirmed.text)
    assert "late@acme.example" not in text((await owner.get("/teams")).text)


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
