"""The route groups page: each group with its key, members and conflicts, for every member of
the organisation and nobody else."""

from __future__ import annotations

from tests.integration.portal.portal_client import (
    Portal,
    create_sandbox,
    register_cluster,
    revealed,
    text,
)

PASSWORD = "correct horse battery"


async def _api_token(owner: Portal) -> str:
    created = await owner.submit("/tokens", "/tokens", {"name": "tests", "expires_in_days": "1"})
    token = revealed((await owner.follow(created)).text, "api-token")
    assert token
    return token


async def test_the_page_shows_each_groups_key_members_and_conflicts(owner: Portal) -> None:
    empty = await owner.get("/routegroups")
    assert empty.status_code == 200
    assert "No route groups yet." in text(empty.text)
    agent_token = await register_cluster(owner)
    for name in ("web-42", "api-42"):
        assert (await create_sandbox(owner, name=name)).status_code == 303
    token = await _api_token(owner)
    headers = {"Authorization": f"Bearer {token}"}
    # Labels come from a manifest (the form has none): both sandboxes join the group.
    for name in ("web-42", "api-42"):
        sandbox = (await owner.client.get(f"/api/v1/sandboxes/{name}", headers=headers)).json()
        spec = {**sandbox["spec"], "labels": {"pr": "42"}}
        applied = await owner.client.put(
            f"/api/v1/sandboxes/{name}", headers=headers, json={"name": name, "spec": spec}
        )
        assert applied.status_code == 200, applied.text
    group = {
        "name": "pr-42",
        "spec": {
            "cluster": "staging",
            "description": "PR <b>42</b>",
            "selector": {"matchLabels": {"pr": "42"}},
        },
    }
    created = await owner.client.put("/api/v1/routegroups/pr-42", headers=headers, json=group)
    assert created.status_code == 201, created.text
    key = created.json()["routingKey"]

    page = await owner.get("/routegroups")
    assert page.status_code == 200
    shown = text(page.text)
    assert key in shown
    assert "pr=42" in shown
    assert "PR <b>42</b>" in shown  # shown as text, not markup
    assert "<b>42</b>" not in page.text
    assert 'href="/portal/sandboxes/api-42"' in page.text
    assert 'href="/portal/sandboxes/web-42"' in page.text
    assert (
        "Deployment/shop/checkout is forked by sandboxes api-42 and web-42: requests with the "
        "group's key go to the baseline there" in shown
    )
    assert '<a href="/portal/routegroups" aria-current="page">Route groups</a>' in page.text

    # A member's preview URL, as its cluster reports it, shows under the group's key.
    member_key = (await owner.client.get("/api/v1/sandboxes/web-42", headers=headers)).json()[
        "routingKey"
    ]
    url = {"name": "web", "url": f"https://web-{member_key}.preview.example.com/",
           "namespace": "shop", "service": "frontend", "port": 80}  # fmt: skip
    status = {"phase": "Ready", "ready": True, "previewUrls": [url]}
    reported = await owner.client.post(
        "/api/v1/agent/status",
        json={"reports": [{"name": "web-42", "observedGeneration": 2, "status": status}]},
        headers={"Authorization": f"Bearer {agent_token}"},
    )
    assert reported.json()["accepted"] == ["web-42"], reported.text
    page = await owner.get("/routegroups")
    link = f'<a href="https://web-{key}.preview.example.com/" rel="noopener noreferrer">web</a>'
    assert link in page.text

    stranger = owner.another()
    await stranger.sign_up("eve@globex.example", PASSWORD, "globex")
    theirs = await stranger.get("/routegroups")
    assert theirs.status_code == 200
    assert key not in theirs.text
    assert "pr-42" not in theirs.text
