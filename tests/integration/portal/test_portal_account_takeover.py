"""The account takeovers that worked before addresses had to be proven, tried again, in
development and in production mode (Secure, `__Host-` cookies over HTTPS).

Before, a portal sign-up with the email of a member who had no portal password (everyone
added through the API or the CLI, and owners bootstrapped without a password) became that
member, owners included; so did accepting any invitation link with someone else's email. Each
test replays such a sequence as the attacker would, on both stores, and checks that it opens
nothing of the victim's organisation, and that the legitimate owner can still get in.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from tests.integration.portal.portal_client import (
    Portal,
    accept,
    ask_to_join,
    csrf_of,
    field_error,
    invite,
    path_of,
    text,
)

from sandboxmesh.controlplane import Settings, passwords
from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.repository import organizations
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.settings import Environment
from sandboxmesh.controlplane.store.tables import portal_sessions, users


@pytest.fixture(params=["development", "production"])
def portal_settings(request: pytest.FixtureRequest, portal_settings: Settings) -> Settings:
    if request.param == "development":
        return portal_settings
    return Settings(
        **{
            **portal_settings.model_dump(),
            "environment": Environment.PRODUCTION,
            "public_url": "https://portal.test",
        }
    )


VICTIM = "boss@victim.example"
ATTACKER = "mallory@evil.example"
PASSWORD = "correct horse battery"
ATTACKERS_PASSWORD = "mallory's own password"


async def _bootstrap_victim(runtime: Runtime) -> None:
    """The victim organisation, its owner bootstrapped without a portal password."""
    async with runtime.unit_of_work() as tx:
        await organizations.bootstrap(
            tx, name="victim", owner_email=VICTIM, plan=Plan.TEAM, token_ttl=timedelta(days=1)
        )


async def _sessions_of(runtime: Runtime, email: str) -> int:
    async with runtime.unit_of_work() as tx:
        count = await tx.conn.scalar(
            sa.select(sa.func.count())
            .select_from(portal_sessions)
            .join(users, users.c.id == portal_sessions.c.user_id)
            .where(users.c.email == email)
        )
    return int(count or 0)


async def _nothing_of_the_victim_opens(attacker: Portal, runtime: Runtime) -> None:
    for password in (ATTACKERS_PASSWORD, PASSWORD):
        refused = await attacker.another().log_in(VICTIM, password)
        assert refused.status_code == 401, text(refused.text)[:300]
    # The old way to turn a session into an API token: there is no session to turn.
    assert (await attacker.get("/tokens")).status_code == 303
    assert await _sessions_of(runtime, VICTIM) == 0
    async with runtime.unit_of_work() as tx:
        assert (
            await tx.conn.execute(sa.select(users).where(users.c.email == VICTIM))
        ).first() is None


async def _owner_claims_the_account(portal: Portal) -> Portal:
    """The real owner asks for a link, reads it in their mailbox, chooses a password."""
    owner = portal.another()
    answer, link = await owner.asking_for_link(
        VICTIM, lambda: owner.submit("/reset", "/reset", {"email": VICTIM})
    )
    assert link is not None, text(answer.text)[:300]
    confirmed = await owner.confirm(link, PASSWORD)
    assert confirmed.status_code == 303, text(confirmed.text)[:300]
    page = await owner.follow(confirmed)
    assert f"victim {VICTIM} · owner" in text(page.text)
    return owner


async def test_signing_up_with_an_owners_address_opens_nothing(
    portal: Portal, runtime: Runtime
) -> None:
    await _bootstrap_victim(runtime)
    attacker = portal.another()
    answer, _ = await attacker.asking_for_link(
        VICTIM,
        lambda: attacker.submit("/signup", "/signup", {"email": VICTIM, "organization": "evil"}),
    )
    assert answer.status_code == 200
    assert f"We sent a link to {VICTIM}" in text(answer.text)
    # The link went to the victim's mailbox, not to the attacker: nothing else was sent.
    assert [str(m["To"]) for m in portal.mail.messages] == [VICTIM]
    assert not attacker.has_session
    await _nothing_of_the_victim_opens(attacker, runtime)

    owner = await _owner_claims_the_account(portal)
    # The owner's own token, minted in their session, is theirs.
    created = await owner.submit("/tokens", "/tokens", {"name": "ci", "expires_in_days": "1"})
    assert created.status_code == 303
    # And the attacker's password, had it been kept anywhere, opens nothing.
    assert (await attacker.another().log_in(VICTIM, ATTACKERS_PASSWORD)).status_code == 401


async def test_the_link_an_attacker_asked_for_gives_the_account_to_whoever_reads_the_mail(
    portal: Portal, runtime: Runtime
) -> None:
    await _bootstrap_victim(runtime)
    attacker = portal.another()
    _, link = await attacker.asking_for_link(
        VICTIM, lambda: attacker.submit("/signup", "/signup", {"email": VICTIM})
    )
    assert link is not None
    # The owner opens the mail the attacker caused: the password is the one the owner
    # chooses there, the session is the owner's browser's.
    owner = portal.another()
    confirmed = await owner.confirm(link, PASSWORD)
    assert confirmed.status_code == 303
    assert f"victim {VICTIM} · owner" in text((await owner.follow(confirmed)).text)
    assert not attacker.has_session
    assert (await attacker.log_in(VICTIM, ATTACKERS_PASSWORD)).status_code == 401


async def test_an_invitation_of_ones_own_organisation_accepted_as_the_victim_opens_nothing(
    portal: Portal, runtime: Runtime
) -> None:
    await _bootstrap_victim(runtime)
    attacker = portal.another()
    await attacker.sign_up(ATTACKER, ATTACKERS_PASSWORD, "evil")
    link = await invite(attacker, "owner")
    accomplice = portal.another()
    asked, _ = await ask_to_join(accomplice, link, VICTIM)
    assert asked.status_code == 200
    assert f"We sent a link to {VICTIM}" in text(asked.text)
    assert not accomplice.has_session
    await _nothing_of_the_victim_opens(accomplice, runtime)
    # The invitation is still open: asking for a mail to someone else's address used nothing.
    assert (await portal.another().client.get(path_of(link))).status_code == 200

    # The owner claims the account; the invitation the attacker made them join is theirs to
    # accept or not: it is not accepted, and the owner lands in their own organisation.
    owner = await _owner_claims_the_account(portal)
    header = (await owner.get("/sandboxes")).text
    assert 'id="org-switch"' not in header


async def test_an_invitation_sent_to_the_victims_address_is_for_that_address_only(
    portal: Portal, runtime: Runtime
) -> None:
    await _bootstrap_victim(runtime)
    attacker = portal.another()
    await attacker.sign_up(ATTACKER, ATTACKERS_PASSWORD, "evil")
    invited = await attacker.submit(
        "/teams", "/invitations", {"role": "owner", "team": "", "email": VICTIM}
    )
    assert invited.status_code == 303
    notice = text((await attacker.follow(invited)).text)
    assert f"Invitation mailed to {VICTIM}" in notice
    mailed = portal.mail.wait_for(VICTIM)
    link = next(
        line.strip() for line in mailed.get_content().splitlines() if "/invitations/" in line
    )
    assert "evil" in str(mailed["Subject"])
    # The attacker's own account cannot take it, signed in or by mail.
    page = await attacker.client.get(path_of(link))
    assert f"only {VICTIM} can accept this invitation" in text(page.text)
    # A POST crafted without the page's button (the session's CSRF token from another page).
    crafted = await attacker.client.post(
        path_of(link), data={"csrf_token": csrf_of((await attacker.get("/sandboxes")).text)}
    )
    assert crafted.status_code == 403
    stranger = portal.another()
    refused, sent = await ask_to_join(stranger, link, ATTACKER)
    assert refused.status_code == 403
    assert sent is None
    assert f"This invitation is for {VICTIM}" in (field_error(refused.text, "email") or "")
    # Nor does anyone become the victim with it.
    await _nothing_of_the_victim_opens(stranger, runtime)
    members = text((await attacker.get("/teams")).text)
    assert f"{VICTIM} owner" in members
    assert "invited" in members


async def test_an_account_made_before_addresses_were_proven_must_prove_its_own(
    portal: Portal, runtime: Runtime
) -> None:
    # As the migration leaves it: the account exists, with the password of whoever made it,
    # and no proof that they own the address.
    await _bootstrap_victim(runtime)
    async with runtime.unit_of_work() as tx:
        await tx.conn.execute(
            users.insert().values(
                email=VICTIM,
                password_hash=await passwords.hash_password(ATTACKERS_PASSWORD),
                created_at=tx.now,
            )
        )
    attacker = portal.another()
    answer, link = await attacker.asking_for_link(
        VICTIM, lambda: attacker.log_in(VICTIM, ATTACKERS_PASSWORD)
    )
    assert answer.status_code == 403
    assert "Confirm your address first" in (field_error(answer.text, "email") or "")
    assert not attacker.has_session
    assert await _sessions_of(runtime, VICTIM) == 0
    # The link went to the address; whoever reads it chooses the password.
    assert link is None  # answered 403: the helper hands no link to the one who asked
    mailed = portal.mail.wait_for(VICTIM)
    claimed = next(line.strip() for line in mailed.get_content().splitlines() if "/verify/" in line)
    owner = portal.another()
    assert (await owner.confirm(claimed, PASSWORD)).status_code == 303
    assert (await portal.another().log_in(VICTIM, ATTACKERS_PASSWORD)).status_code == 401
    assert (await portal.another().log_in(VICTIM, PASSWORD)).status_code == 303


async def test_a_membership_added_by_an_admin_opens_nothing_until_accepted(
    owner: Portal, runtime: Runtime
) -> None:
    bob = owner.another()
    await bob.sign_up("bob@globex.example", PASSWORD, "globex")
    added = await owner.submit(
        "/teams", "/invitations", {"role": "admin", "team": "", "email": "bob@globex.example"}
    )
    assert added.status_code == 303
    # Bob signs in again: he lands in his own organisation, and acme is not among his.
    again = owner.another()
    assert (await again.log_in("bob@globex.example", PASSWORD)).status_code == 303
    header = (await again.get("/sandboxes")).text
    assert "globex bob@globex.example · owner" in text(header)
    assert 'id="org-switch"' not in header
    sneaked = await again.submit("/sandboxes", "/organization", {"organization": "acme"})
    assert sneaked.status_code == 404
    # He accepts the mailed invitation, signed in: now acme opens.
    mailed = owner.mail.wait_for("bob@globex.example", count=2)
    link = next(
        line.strip() for line in mailed.get_content().splitlines() if "/invitations/" in line
    )
    joined = await accept(again, link)
    assert joined.status_code == 303
    assert "acme bob@globex.example · admin" in text((await again.get("/sandboxes")).text)
    assert "invited" not in text((await owner.get("/teams")).text)
