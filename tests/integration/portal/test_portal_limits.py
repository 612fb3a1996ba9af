"""Log-in and mailed links are limited per account and per client address (429 with
Retry-After), before a password hash is computed or a mail sent; on both stores."""

from __future__ import annotations

import pytest
from tests.integration.portal.portal_client import Portal, field_error, text

from sandboxmesh.controlplane import Settings
from sandboxmesh.controlplane.settings import ThrottleSettings

PASSWORD = "correct horse battery"


@pytest.fixture
def portal_settings(portal_settings: Settings) -> Settings:
    return portal_settings.model_copy(
        update={
            # Refills far slower than the test runs, so that none comes back during it.
            "throttle": ThrottleSettings(
                account_burst=3,
                account_refill_seconds=3600,
                address_burst=12,
                address_refill_seconds=3600,
                mail_burst=2,
            )
        }
    )


async def test_an_attacked_account_is_refused_before_hashing_and_others_still_sign_in(
    owner: Portal,
) -> None:
    other = owner.another()
    await other.sign_up("bob@globex.example", PASSWORD, "globex")
    attacker = owner.another()
    for _ in range(3):
        wrong = await attacker.log_in("owner@acme.example", "guess guess guess")
        assert wrong.status_code == 401
    refused = await attacker.log_in("owner@acme.example", "guess guess guess")
    assert refused.status_code == 429
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600
    assert "too many sign-in attempts" in text(refused.text)
    # Even the right password waits: the attacker cannot tell it from a wrong one.
    assert (await attacker.log_in("owner@acme.example", PASSWORD)).status_code == 429
    # Another account, from the same client address, signs in.
    assert (await owner.another().log_in("bob@globex.example", PASSWORD)).status_code == 303
    metrics = (await owner.client.get("/metrics")).text
    assert 'sandboxmesh_sign_in_throttled_total{limit="account"} 2.0' in metrics


async def test_one_client_address_is_limited_across_accounts(portal: Portal) -> None:
    statuses = [
        (await portal.log_in(f"user{n}@example.com", "guess guess guess")).status_code
        for n in range(13)
    ]
    assert statuses == [401] * 12 + [429]


async def test_mails_to_one_address_are_limited(portal: Portal) -> None:
    for _ in range(2):
        _, link = await portal.asking_for_link(
            "ada@example.com",
            lambda: portal.submit("/reset", "/reset", {"email": "ada@example.com"}),
        )
        assert link is not None
    again = await portal.submit("/reset", "/reset", {"email": "ada@example.com"})
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) > 0
    assert len(portal.mail.to("ada@example.com")) == 2
    # Another address still gets its mail.
    _, link = await portal.asking_for_link(
        "bea@example.com", lambda: portal.submit("/reset", "/reset", {"email": "bea@example.com"})
    )
    assert link is not None
    assert field_error(again.text, "email") is None
