"""The pages do what they say: forms create and change things through the repository, bad
input comes back as messages next to the fields (never a 500), secrets are shown once."""

from __future__ import annotations

import json

import httpx
from tests.integration.portal.portal_client import (
    Portal,
    create_sandbox,
    field_error,
    register_cluster,
    revealed,
    text,
)
from tests.support.controlplane import Clock

from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.spec import install

YAML = """\
name: pr-42
spec:
  cluster: staging
  labels: {pr: "42"}
  forks:
    - forkOf: {kind: Deployment, namespace: shop, name: checkout}
      customizations:
        images: [{container: app, image: example/checkout:pr-42}]
        env: [{container: app, name: FEATURE_X, value: "on"}]
"""


async def _api(portal: Portal, token: str, path: str) -> httpx.Response:
    return await portal.client.get(path, headers={"Authorization": f"Bearer {token}"})


async def _api_token(owner: Portal) -> str:
    created = await owner.submit("/tokens", "/tokens", {"name": "tests", "expires_in_days": "1"})
    token = revealed((await owner.follow(created)).text, "api-token")
    assert token
    return token


async def test_a_cluster_token_is_shown_once_with_its_install_command(owner: Portal) -> None:
    response = await owner.submit("/clusters", "/clusters", {"name": "staging"})
    assert response.headers["location"] == "/portal/clusters/staging"
    page = await owner.follow(response)
    token = revealed(page.text, "cluster-token")
    assert token
    assert token.startswith("smc_")
    command = revealed(page.text, "install-command")
    assert command == install.install_command("http://portal.test", token)
    reloaded = await owner.get("/clusters/staging")
    assert token not in reloaded.text
    assert revealed(reloaded.text, "cluster-token") is None
    assert "never-connected" in text(reloaded.text)
    rotated = await owner.follow(
        await owner.submit("/clusters/staging", "/clusters/staging/rotate", {})
    )
    new_token = revealed(rotated.text, "cluster-token")
    assert new_token
    assert new_token != token
    assert "keep working for 1 hour" in text(rotated.text)
    revoked = await owner.follow(
        await owner.submit("/clusters/staging", "/clusters/staging/revoke", {})
    )
    assert "Every agent token of this cluster revoked." in text(revoked.text)
    assert "live" not in text(revoked.text).split("Agent tokens", 1)[1]


async def test_cluster_names_are_checked_next_to_the_field(owner: Portal) -> None:
    bad = await owner.submit("/clusters", "/clusters", {"name": "Prod Cluster"})
    assert bad.status_code == 422
    assert "lowercase letters" in (field_error(bad.text, "name") or "")
    await register_cluster(owner)
    taken = await owner.submit("/clusters", "/clusters", {"name": "staging"})
    assert taken.status_code == 409
    assert field_error(taken.text, "name") == "A cluster named staging is already registered."


async def test_a_sandbox_from_the_form_is_the_manifest_the_api_would_store(owner: Portal) -> None:
    await register_cluster(owner)
    created = await create_sandbox(owner, name="pr-1", env="FEATURE_X=on\nLEVEL=3", ttl="4h")
    assert created.headers["location"] == "/portal/sandboxes/pr-1"
    detail = await owner.follow(created)
    assert "Sandbox pr-1 created." in text(detail.text)
    key = revealed(detail.text, "curl-line")
    assert key is not None
    assert key.startswith('curl -H "x-sandboxmesh-routing-key: ')
    got = (await _api(owner, await _api_token(owner), "/api/v1/sandboxes/pr-1")).json()
    assert got["routingKey"] in key
    assert got["spec"]["forks"][0]["forkOf"] == {
        "kind": "Deployment",
        "namespace": "shop",
        "name": "checkout",
    }
    customizations = got["spec"]["forks"][0]["customizations"]
    assert customizations["images"] == [
        {"container": "app", "image": "registry.example/checkout:pr-1"}
    ]
    assert [(e["name"], e["value"]) for e in customizations["env"]] == [
        ("FEATURE_X", "on"),
        ("LEVEL", "3"),
    ]
    assert got["spec"]["ttl"]["duration"] == "4h"
    assert got["createdBy"] == "member:owner@acme.example"
    listed = await owner.get("/sandboxes")
    assert 'data-sandbox="pr-1"' in listed.text


async def test_the_sandbox_form_shows_each_problem_next_to_its_field(owner: Portal) -> None:
    await register_cluster(owner)
    bad = await create_sandbox(
        owner, name="PR 1", namespace="", deployment="checkout", container="App", env="no-equals"
    )
    assert bad.status_code == 422
    assert field_error(bad.text, "env") == "Line 1: write one NAME=value per line."
    bad = await create_sandbox(owner, name="PR 1", namespace="", container="App")
    assert bad.status_code == 422
    assert "lowercase letters" in (field_error(bad.text, "name") or "")
    assert field_error(bad.text, "namespace") == "This is required."
    assert "lowercase letters" in (field_error(bad.text, "container") or "")
    assert 'value="PR 1"' in bad.text  # what was typed stays in the form
    unknown = await create_sandbox(owner, name="pr-2", cluster="nope")
    assert unknown.status_code == 422
    assert field_error(unknown.text, "cluster") == "No cluster 'nope' is registered"
    assert (await create_sandbox(owner, name="pr-2")).status_code == 303
    again = await create_sandbox(owner, name="pr-2")
    assert again.status_code == 409
    assert "already exists" in (field_error(again.text, "name") or "")


async def test_yaml_creates_then_updates_and_explains_what_is_wrong(owner: Portal) -> None:
    await register_cluster(owner)
    token = await _api_token(owner)
    created = await owner.submit("/new/sandbox", "/new/sandbox/yaml", {"manifest": YAML})
    assert created.headers["location"] == "/portal/sandboxes/pr-42"
    assert "Sandbox pr-42 created." in text((await owner.follow(created)).text)
    updated = await owner.submit(
        "/new/sandbox", "/new/sandbox/yaml", {"manifest": YAML.replace('"on"', '"off"')}
    )
    assert "Sandbox pr-42 updated." in text((await owner.follow(updated)).text)
    got = (await _api(owner, token, "/api/v1/sandboxes/pr-42")).json()
    assert got["generation"] == 2
    assert got["spec"]["labels"] == {"pr": "42"}

    not_yaml = await owner.submit("/new/sandbox", "/new/sandbox/yaml", {"manifest": "name: [x"})
    assert not_yaml.status_code == 422
    assert "not valid YAML" in (field_error(not_yaml.text, "manifest") or "")
    invalid = await owner.submit(
        "/new/sandbox", "/new/sandbox/yaml", {"manifest": YAML.replace("shop", "Shop!")}
    )
    assert invalid.status_code == 422
    assert "spec.forks.0.forkOf.namespace: Use lowercase" in (
        field_error(invalid.text, "manifest") or ""
    )
    assert "Shop!" in invalid.text  # the text stays to be fixed


async def test_a_quota_refusal_is_explained_and_leaves_nothing_behind(
    owner: Portal, runtime: Runtime
) -> None:
    await register_cluster(owner)
    limit = await owner.submit("/quotas", "/quotas/organization", {"max_sandboxes": "1"})
    assert "Organisation limit saved." in text((await owner.follow(limit)).text)
    assert (await create_sandbox(owner, name="pr-1")).status_code == 303
    refused = await create_sandbox(owner, name="pr-2")
    assert refused.status_code == 409
    assert "Quota exceeded: the organization 'acme' allows at most 1 sandboxes" in text(
        refused.text
    )
    async with runtime.unit_of_work() as tx:
        names = (await tx.conn.exec_driver_sql("SELECT name FROM sandboxes")).scalars().all()
        usage = (
            (await tx.conn.exec_driver_sql("SELECT sandbox_name FROM usage_records"))
            .scalars()
            .all()
        )
    assert names == ["pr-1"]
    assert usage == ["pr-1"]
    bad = await owner.submit("/quotas", "/quotas/organization", {"max_sandboxes": "many"})
    assert bad.status_code == 422
    assert "Enter a whole number." in text(bad.text)
    negative = await owner.submit("/quotas", "/quotas/teams/default", {"max_sandboxes": "-1"})
    assert negative.status_code == 422
    assert "Use 0 or more." in text(negative.text)
    cleared = await owner.submit("/quotas", "/quotas/organization", {"max_sandboxes": ""})
    assert "1 of 5 sandboxes in use" in text((await owner.follow(cleared)).text)


async def test_api_tokens_are_shown_once_and_revocable(owner: Portal) -> None:
    created = await owner.submit("/tokens", "/tokens", {"name": "ci", "expires_in_days": "30"})
    page = await owner.follow(created)
    token = revealed(page.text, "api-token")
    assert token
    assert (await _api(owner, token, "/api/v1/whoami")).json()["email"] == "owner@acme.example"
    assert revealed((await owner.get("/tokens")).text, "api-token") is None
    prefix = "_".join(token.split("_")[:2])
    revoked = await owner.submit("/tokens", f"/tokens/{prefix}/revoke", {})
    assert f"Token {prefix} revoked." in text((await owner.follow(revoked)).text)
    assert (await _api(owner, token, "/api/v1/whoami")).status_code == 401
    bad = await owner.submit("/tokens", "/tokens", {"name": "", "expires_in_days": "0"})
    assert field_error(bad.text, "name") == "This is required."
    assert field_error(bad.text, "expires_in_days") == "Use 1 or more."


async def test_teams_are_created_listed_and_deleted(owner: Portal) -> None:
    bad = await owner.submit("/teams", "/teams", {"name": "Pay ments"})
    assert bad.status_code == 422
    assert "lowercase letters" in (field_error(bad.text, "name") or "")
    created = await owner.submit("/teams", "/teams", {"name": "payments"})
    assert "Team payments created." in text((await owner.follow(created)).text)
    taken = await owner.submit("/teams", "/teams", {"name": "payments"})
    assert field_error(taken.text, "name") == "There is already a team named payments."
    deleted = await owner.submit("/teams", "/teams/payments/delete", {})
    assert "Team payments deleted." in text((await owner.follow(deleted)).text)


async def test_usage_shows_the_month_and_downloads_the_statement(
    owner: Portal, clock: Clock
) -> None:
    await register_cluster(owner)
    await create_sandbox(owner, name="pr-1")
    clock.advance(minutes=45)  # within the session's lifetime
    page = await owner.get("/usage")
    assert page.status_code == 200
    assert "<svg" in page.text
    assert 'class="bar"' in page.text
    assert "default, " in page.text  # a bar's tooltip names its team and day
    csv = await owner.get("/usage/statement.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    header, row = csv.text.strip().splitlines()
    assert header == "month,team,sandboxes,sandbox_hours"
    assert row.split(",")[1:3] == ["default", "1"]
    assert float(row.split(",")[3]) >= 0.75
    statement = json.loads((await owner.get("/usage/statement.json")).text)
    assert statement["organization"] == "acme"
    assert statement["lines"][0]["sandbox"] == "pr-1"
    empty = await owner.get("/usage?month=2020-01")
    assert "No usage in 2020-01." in text(empty.text)
    assert (await owner.get("/usage?month=2020-13")).status_code == 422
    assert (await owner.get("/usage?month=0000-01")).status_code == 422
    assert (await owner.get("/usage/statement.csv?month=9999-12")).status_code == 422


async def test_the_daily_usage_api(owner: Portal, clock: Clock) -> None:
    await register_cluster(owner)
    await create_sandbox(owner, name="pr-1")
    token = await _api_token(owner)
    clock.advance(hours=2)
    daily = (await _api(owner, token, "/api/v1/usage/daily")).json()
    (team,) = daily["teams"]
    assert team["team"] == "default"
    assert len(team["sandboxHours"]) == len(daily["days"]) >= 28
    assert 2.0 <= team["totalSandboxHours"] < 2.1
    assert (await _api(owner, token, "/api/v1/usage/daily?team=nope")).json()["code"] == "not_found"
    for month in ("2026-13", "0000-01", "9999-12"):
        bad = await _api(owner, token, f"/api/v1/usage/daily?month={month}")
        assert bad.status_code == 422
        assert bad.json()["code"] == "invalid"
    assert (await _api(owner, token, "/api/v1/usage?month=0000-01")).status_code == 422


async def test_the_audit_log_lists_portal_actions_by_their_member(owner: Portal) -> None:
    await register_cluster(owner)
    page = text((await owner.get("/audit")).text)
    assert "member:owner@acme.example cluster.register cluster/staging" in page
    assert "organization.create organization/acme" in page
    filtered = text((await owner.get("/audit?action=cluster.register")).text)
    assert "organization.create" not in filtered


async def test_the_live_list_answers_no_content_when_nothing_changed(owner: Portal) -> None:
    await register_cluster(owner)
    await create_sandbox(owner, name="pr-1")
    first = await owner.get("/sandboxes/_rows")
    fingerprint = first.text.split('name="v" value="', 1)[1].split('"', 1)[0]
    same = await owner.get(f"/sandboxes/_rows?v={fingerprint}")
    assert same.status_code == 204
    await create_sandbox(owner, name="pr-2")
    changed = await owner.get(f"/sandboxes/_rows?v={fingerprint}")
    assert changed.status_code == 200
    assert 'data-sandbox="pr-2"' in changed.text
    filtered = await owner.get("/sandboxes?q=pr-2")
    assert 'data-sandbox="pr-1"' not in filtered.text
    assert 'data-sandbox="pr-2"' in filtered.text


async def test_the_sandbox_page_links_its_traces_and_a_trace_lists_its_hops(
    owner: Portal,
) -> None:
    agent_token = await register_cluster(owner)
    await create_sandbox(owner, name="pr-1")
    token = await _api_token(owner)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"Authorization": f"Bearer {token}"}
    asked = await owner.client.post(
        "/api/v1/sandboxes/pr-1/traces", json={"traceId": trace_id}, headers=headers
    )
    assert asked.status_code == 202
    pending = await owner.get(f"/sandboxes/pr-1/traces/{trace_id}")
    assert pending.status_code == 200
    assert "Waiting for the cluster's agent" in text(pending.text)

    hops = [
        {"at": 1.0, "service": "shop/frontend", "router": "r1", "decision": "baseline",
         "reason": "the request carried no routing key", "key": None},
        {"at": 2.0, "service": "shop/checkout", "router": "r2", "decision": "pr-1",
         "reason": "the request's key is this sandbox's", "key": "k1"},
    ]  # fmt: skip
    answered = await owner.client.post(
        "/api/v1/agent/traces",
        json={"traceId": trace_id, "hops": hops},
        headers={"Authorization": f"Bearer {agent_token}"},
    )
    assert answered.json() == {"stored": True, "ignored": None}

    detail = await owner.get("/sandboxes/pr-1")
    assert f'href="/portal/sandboxes/pr-1/traces/{trace_id}"' in detail.text
    assert "sandboxmesh route trace" in text(detail.text)
    shown = text((await owner.get(f"/sandboxes/pr-1/traces/{trace_id}")).text)
    assert "answered" in shown
    assert "shop/frontend baseline the request carried no routing key" in shown
    assert "shop/checkout pr-1 the request's key is this sandbox's" in shown

    assert (await owner.get(f"/sandboxes/pr-1/traces/{'a' * 32}")).status_code == 404
    assert (await owner.get("/sandboxes/pr-1/traces/nope")).status_code in (404, 422)
    assert (await owner.get(f"/sandboxes/nope/traces/{trace_id}")).status_code == 404


async def test_the_sandbox_page_links_its_preview_urls_and_only_web_addresses(
    owner: Portal,
) -> None:
    agent_token = await register_cluster(owner)
    await create_sandbox(owner, name="pr-1")
    agent = {"Authorization": f"Bearer {agent_token}"}

    def report(url: str) -> dict[str, object]:
        preview = {"name": "web", "url": url, "namespace": "shop", "service": "frontend",
                   "port": 80, "access": "public"}  # fmt: skip
        status = {"phase": "Ready", "ready": True, "previewUrls": [preview]}
        return {"reports": [{"name": "pr-1", "observedGeneration": 1, "status": status}]}

    good = "https://web-abcdefgh12.preview.example.com/"
    sent = await owner.client.post("/api/v1/agent/status", json=report(good), headers=agent)
    assert sent.json()["accepted"] == ["pr-1"]
    detail = await owner.get("/sandboxes/pr-1")
    assert f'<a href="{good}" rel="noopener noreferrer">web</a>' in detail.text
    assert "anyone with the link" in text(detail.text)

    # A cluster cannot put anything but a web origin on the page (or in the API).
    for hostile in (
        "javascript:alert(1)//",
        "https://user:pw@evil.test/",
        'https://evil.test/"><script>',
        "https://evil.test/path",
        "data:text/html,x",
    ):
        refused = await owner.client.post(
            "/api/v1/agent/status", json=report(hostile), headers=agent
        )
        assert refused.status_code == 422, hostile
        assert refused.json()["code"]
    detail = await owner.get("/sandboxes/pr-1")
    assert "evil" not in detail.text
    assert "javascript" not in detail.text
