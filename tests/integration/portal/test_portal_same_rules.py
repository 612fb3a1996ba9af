"""The portal and the API apply one rule book (controlplane/usecases): a manifest refused
through one door is refused through the other with the same status and the same words, and
a refusal is counted once whichever door it came through. On both stores: on PostgreSQL a
create is refused when its unit of work commits, after the use case returned."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.integration.portal.portal_client import (
    Portal,
    create_sandbox,
    field_error,
    invite,
    join,
    register_cluster,
    revealed,
    text,
)

PASSWORD = "correct horse battery"


def _manifest(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "name": name,
        "spec": {
            "cluster": "staging",
            "forks": [{"forkOf": {"kind": "Deployment", "namespace": "shop", "name": "checkout"}}],
            **spec,
        },
    }


async def _member_with_token(
    owner: Portal, email: str, team: str, role: str = "member"
) -> tuple[Portal, str]:
    browser = owner.another()
    joined = await join(browser, await invite(owner, role, team), email, PASSWORD)
    assert joined.status_code == 303
    created = await browser.submit("/tokens", "/tokens", {"name": "ci", "expires_in_days": "1"})
    token = revealed((await browser.follow(created)).text, "api-token")
    assert token
    return browser, token


async def _put(portal: Portal, token: str, manifest: dict[str, Any]) -> httpx.Response:
    return await portal.client.put(
        f"/api/v1/sandboxes/{manifest['name']}",
        json=manifest,
        headers={"Authorization": f"Bearer {token}"},
    )


async def _delete(portal: Portal, token: str, name: str) -> None:
    deleted = await portal.client.delete(
        f"/api/v1/sandboxes/{name}", headers={"Authorization": f"Bearer {token}"}
    )
    assert deleted.status_code == 202, deleted.text


#: What a member of team `payments` (`mia`) or an admin of no team (`ada`: no default team, but
#: every team's sandboxes to write) applies, and what both doors answer: the status and the
#: API's message, which the portal shows as it is.
CASES: dict[str, tuple[str, Callable[[], dict[str, Any]], int, str]] = {
    "no such team": (
        "mia",
        lambda: _manifest("pr-1", team="nope"),
        422,
        "body.spec.team: no team 'nope'",
    ),
    "another team's sandboxes": (
        "mia",
        lambda: _manifest("pr-1", team="default"),
        403,
        "you may not change the sandboxes of team 'default'",
    ),
    # Permission comes before the cluster: a member learns nothing of the clusters through
    # the sandboxes of a team that is not theirs.
    "another team, no such cluster": (
        "mia",
        lambda: _manifest("pr-1", team="default", cluster="nope"),
        403,
        "you may not change the sandboxes of team 'default'",
    ),
    "no such cluster": (
        "mia",
        lambda: _manifest("pr-1", team="payments", cluster="nope"),
        422,
        "body.spec.cluster: no cluster 'nope' is registered",
    ),
    "no default team": (
        "ada",
        lambda: _manifest("pr-1"),
        422,
        "body.spec.team: you have no default team: name one in spec.team",
    ),
    "being deleted": (
        "mia",
        lambda: _manifest("gone", team="payments"),
        409,
        "sandbox 'gone' is being deleted; apply again once it is gone",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_manifest_is_refused_alike_through_the_api_and_the_portal(
    owner: Portal, case: str
) -> None:
    caller, manifest_of, status, message = CASES[case]
    await register_cluster(owner)
    await owner.submit("/teams", "/teams", {"name": "payments"})
    callers = {
        "mia": await _member_with_token(owner, "mia@acme.example", "payments"),
        "ada": await _member_with_token(owner, "ada@acme.example", "", role="admin"),
    }
    browser, token = callers[caller]
    mia, mia_token = callers["mia"]
    assert (await _put(mia, mia_token, _manifest("gone", team="payments"))).status_code == 201
    await _delete(mia, mia_token, "gone")

    through_api = await _put(browser, token, manifest_of())
    assert (through_api.status_code, through_api.json()["message"]) == (status, message)
    through_portal = await browser.submit(
        "/new/sandbox", "/new/sandbox/yaml", {"manifest": json.dumps(manifest_of())}
    )
    assert through_portal.status_code == status
    assert field_error(through_portal.text, "manifest") == message


def _quota_refusals(metrics: str) -> float:
    found = re.search(r'sandboxmesh_quota_rejections_total\{limit="organization"\} (\S+)', metrics)
    return float(found.group(1)) if found else 0.0


async def test_a_quota_refusal_is_counted_once_through_either_door(owner: Portal) -> None:
    await register_cluster(owner)
    limit = await owner.submit("/quotas", "/quotas/organization", {"max_sandboxes": "1"})
    assert limit.status_code == 303
    _, token = await _member_with_token(owner, "mia@acme.example", "default")
    assert (await create_sandbox(owner, name="pr-1")).status_code == 303
    assert _quota_refusals((await owner.client.get("/metrics")).text) == 0

    from_portal = await create_sandbox(owner, name="pr-2")
    assert from_portal.status_code == 409
    assert "Quota exceeded: the organization 'acme' allows at most 1 sandboxes" in text(
        from_portal.text
    )
    assert _quota_refusals((await owner.client.get("/metrics")).text) == 1

    from_api = await _put(owner, token, _manifest("pr-3", team="default"))
    assert from_api.status_code == 409
    assert from_api.json()["message"].startswith(
        "quota exceeded: the organization 'acme' allows at most 1 sandboxes"
    )
    assert _quota_refusals((await owner.client.get("/metrics")).text) == 2
