"""Lifetime policies in the portal: shown on the quotas page, set by admins through the same
use cases as the API, and enforced on the new-sandbox form."""

from __future__ import annotations

from tests.integration.portal.portal_client import (
    Portal,
    create_sandbox,
    field_error,
    invite,
    join,
    register_cluster,
    text,
)

PASSWORD = "a long enough password 1"


async def test_an_admin_sets_the_policy_and_the_form_obeys_it(owner: Portal) -> None:
    await register_cluster(owner)
    saved = await owner.submit(
        "/quotas",
        "/quotas/policy/organization",
        {
            "default_ttl": "4h",
            "max_ttl": "1d",
            "default_idle": "30m",
            "max_sandboxes_per_member": "2",
        },
    )
    assert saved.status_code == 303
    page = text((await owner.follow(saved)).text)
    assert "Organisation policy saved." in page
    assert "Organisation acme 4h 1d 30m 2" in page
    # A team may only narrow: the refusal is shown beside its field.
    wider = await owner.submit("/quotas", "/quotas/policy/teams/default", {"max_ttl": "2d"})
    assert wider.status_code == 422
    assert "above the organisation's maximum TTL 1d" in (
        field_error(wider.text, "policy-team-default-max_ttl") or ""
    )
    bad = await owner.submit("/quotas", "/quotas/policy/organization", {"max_ttl": "soon"})
    assert bad.status_code == 422
    narrowed = await owner.submit("/quotas", "/quotas/policy/teams/default", {"max_ttl": "2h"})
    assert "Team default 2h 2h 30m 2" in text((await owner.follow(narrowed)).text)
    # The new-sandbox form goes through the same rules: the TTL field says why.
    refused = await create_sandbox(owner, name="pr-1", ttl="3h")
    assert refused.status_code == 422
    assert "above the maximum TTL 2h that the team 'default' allows" in text(refused.text)
    assert (await create_sandbox(owner, name="pr-1")).status_code == 303
    # Without a TTL of its own it got the default (held to the team's maximum): it expires.
    assert "Expires" in text((await owner.get("/sandboxes/pr-1")).text)


async def test_members_see_the_policy_but_cannot_set_it(owner: Portal) -> None:
    await owner.submit("/quotas", "/quotas/policy/organization", {"max_ttl": "1d"})
    member = owner.another()
    joined = await join(
        member, await invite(owner, "member", "default"), "mia@acme.example", PASSWORD
    )
    assert joined.status_code == 303
    page = await member.get("/quotas")
    assert "<title>Quotas · SandboxMesh</title>" in page.text
    assert page.text.count('id="policies"') == 1  # the policy is shown once, in the page
    assert "Organisation acme none 1d none none" in text(page.text)
    assert "Save policy" not in page.text
    refused = await member.submit("/quotas", "/quotas/policy/organization", {"max_ttl": "300d"})
    assert refused.status_code == 403
