"""The pull-request webhook (docs/policy.md): GitHub's signed deliveries delete a closed pull
request's sandboxes; unsigned, badly signed, replayed, oversized and unknown-organisation
deliveries are refused, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx
import pytest
from tests.support import snapshots
from tests.support.controlplane import (
    BASE_URL,
    Clock,
    Org,
    accepted_member,
    manifest,
    register_cluster,
)

from sandboxmesh.client import endpoints, errors
from sandboxmesh.controlplane.repository import webhooks as webhook_store
from sandboxmesh.controlplane.runtime import Runtime


def closed(number: int, repo: str = "shop", action: str = "closed") -> bytes:
    return json.dumps(
        {
            "action": action,
            "number": number,
            "pull_request": {"number": number, "merged": True},
            "repository": {"name": repo, "full_name": f"acme-inc/{repo}"},
        }
    ).encode()


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(
    transport: httpx.ASGITransport,
    org: str,
    body: bytes,
    *,
    secret: str | None,
    event: str = "pull_request",
    delivery: str | None = None,
    signature: str | None = None,
) -> httpx.Response:
    headers = {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": delivery or str(uuid.uuid4()),
    }
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    elif secret is not None:
        headers["x-hub-signature-256"] = signed(secret, body)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        return await client.post(f"/api/v1/webhooks/github/{org}", content=body, headers=headers)


def outcomes(runtime: Runtime) -> dict[str, float]:
    return {
        sample.labels["outcome"]: sample.value
        for metric in runtime.metrics.webhook_deliveries.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }


async def _labelled(acme: Org) -> None:
    await register_cluster(acme)
    for name, labels in {
        "pr-42": {"pr": "42", "repo": "shop"},
        "pr-42-any-repo": {"pr": "42"},
        "pr-42-other-repo": {"pr": "42", "repo": "billing"},
        "pr-7": {"pr": "7", "repo": "shop"},
        "unlabelled": {},
    }.items():
        await acme.client.send(endpoints.apply_sandbox(manifest(name, labels=labels)))


async def test_a_closed_pull_request_deletes_its_sandboxes(
    acme: Org, transport: httpx.ASGITransport, runtime: Runtime
) -> None:
    await _labelled(acme)
    made = await acme.client.send(endpoints.rotate_webhook_secret())
    assert made.value.startswith(made.secret.prefix + "_")
    assert len(made.value.encode()) > 64  # longer than HMAC-SHA256's block (domain/webhooks.py)
    assert made.url == f"{runtime.settings.portal_base_url()}/api/v1/webhooks/github/acme"
    answer = await deliver(transport, "acme", closed(42), secret=made.value)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"outcome": "deleted", "sandboxes": ["pr-42", "pr-42-any-repo"]}
    listed = {
        s.name: s.deleting for s in (await acme.client.send(endpoints.list_sandboxes())).items
    }
    assert listed == {
        "pr-42": True,
        "pr-42-any-repo": True,
        "pr-42-other-repo": False,
        "pr-7": False,
        "unlabelled": False,
    }
    # Through the same delete as the API's: audited, metered until then.
    audit = await acme.client.send(endpoints.audit(action="sandbox.delete"))
    assert {(e.actor, e.target, e.details["reason"]) for e in audit.items} == {
        ("webhook:github", "sandbox/pr-42", "pull request #42 closed"),
        ("webhook:github", "sandbox/pr-42-any-repo", "pull request #42 closed"),
    }
    usage = await acme.client.send(endpoints.usage())
    ended = {line.sandbox: line.ended_at is not None for line in usage.lines}
    assert ended["pr-42"]
    assert not ended["pr-7"]
    # A second delivery for the same pull request finds nothing left to delete.
    again = await deliver(transport, "acme", closed(42), secret=made.value)
    assert again.json() == {"outcome": "deleted", "sandboxes": []}
    assert outcomes(runtime)["deleted"] == 2


async def test_other_events_and_actions_are_ignored(
    acme: Org, transport: httpx.ASGITransport, runtime: Runtime
) -> None:
    await _labelled(acme)
    secret = (await acme.client.send(endpoints.rotate_webhook_secret())).value
    opened = await deliver(transport, "acme", closed(42, action="opened"), secret=secret)
    assert opened.status_code == 202
    assert opened.json() == {"outcome": "ignored", "sandboxes": []}
    ping = await deliver(
        transport, "acme", b'{"zen": "Keep it simple."}', secret=secret, event="ping"
    )
    assert ping.status_code == 202
    assert not any(s.deleting for s in (await acme.client.send(endpoints.list_sandboxes())).items)
    assert outcomes(runtime)["ignored"] == 2


async def test_unsigned_badly_signed_and_unknown_organisations_get_one_answer(
    make_org: Any, transport: httpx.ASGITransport, runtime: Runtime
) -> None:
    acme: Org = await make_org("acme")
    globex: Org = await make_org("globex")
    await _labelled(acme)
    secret = (await acme.client.send(endpoints.rotate_webhook_secret())).value
    globex_secret = (await globex.client.send(endpoints.rotate_webhook_secret())).value
    before = await snapshots.organization_rows(runtime, "acme")
    body = closed(42)
    refusals = [
        await deliver(transport, "acme", body, secret=None),
        await deliver(transport, "acme", body, secret=None, signature="sha256=" + "0" * 64),
        await deliver(transport, "acme", body, secret=None, signature="sha1=abc"),
        await deliver(transport, "acme", body, secret=secret[:-1]),
        # Signed for another body, and with another organisation's secret.
        await deliver(transport, "acme", body, secret=None, signature=signed(secret, closed(7))),
        await deliver(transport, "acme", body, secret=globex_secret),
        await deliver(transport, "nobody", body, secret=secret),
        await deliver(transport, "Not_A-Name" * 5, body, secret=secret),
    ]
    assert {r.status_code for r in refusals} == {401}
    assert len({r.text for r in refusals}) == 1
    assert refusals[0].json()["code"] == "unauthorized"
    assert await snapshots.organization_rows(runtime, "acme") == before
    counted = outcomes(runtime)
    assert (counted["unsigned"], counted["bad_signature"], counted["unknown_organization"]) == (
        1,
        5,
        2,
    )
    # An organisation without a secret refuses every delivery the same way.
    await acme.client.send(endpoints.delete_webhook_secret())
    assert (await deliver(transport, "acme", body, secret=secret)).text == refusals[0].text


async def test_a_replayed_delivery_is_refused_within_the_window(
    acme: Org, transport: httpx.ASGITransport, runtime: Runtime, clock: Clock
) -> None:
    await _labelled(acme)
    secret = (await acme.client.send(endpoints.rotate_webhook_secret())).value
    delivery = str(uuid.uuid4())
    first = await deliver(transport, "acme", closed(7), secret=secret, delivery=delivery)
    assert first.json()["sandboxes"] == ["pr-7"]
    await acme.client.send(endpoints.apply_sandbox(manifest("pr-7-again", labels={"pr": "7"})))
    replayed = await deliver(transport, "acme", closed(7), secret=secret, delivery=delivery)
    assert replayed.status_code == 409
    assert replayed.json()["code"] == "replayed_delivery"
    assert not (await acme.client.send(endpoints.get_sandbox("pr-7-again"))).deleting
    # A signed delivery without an id cannot be told from its replays: refused.
    body = closed(7)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        no_id = await client.post(
            "/api/v1/webhooks/github/acme",
            content=body,
            headers={"x-github-event": "pull_request", "x-hub-signature-256": signed(secret, body)},
        )
    assert no_id.status_code == 400
    # Past the window, the sweeper forgets it.
    clock.advance(days=8)
    async with runtime.unit_of_work() as tx:
        await webhook_store.forget_deliveries(tx)
    late = await deliver(transport, "acme", closed(7), secret=secret, delivery=delivery)
    assert late.json()["sandboxes"] == ["pr-7-again"]
    assert outcomes(runtime)["replayed"] == 1


async def test_a_huge_or_malformed_body_is_refused(
    acme: Org, transport: httpx.ASGITransport, runtime: Runtime
) -> None:
    await _labelled(acme)
    secret = (await acme.client.send(endpoints.rotate_webhook_secret())).value
    huge = closed(42)[:-1] + b', "padding": "' + b"x" * (300 * 1024) + b'"}'
    too_large = await deliver(transport, "acme", huge, secret=secret)
    assert too_large.status_code == 413
    not_json = await deliver(transport, "acme", b"payload=%7B%7D", secret=secret)
    assert not_json.status_code == 400
    assert "application/json" in not_json.json()["message"]
    no_number = await deliver(transport, "acme", b'{"action": "closed"}', secret=secret)
    assert no_number.status_code == 400
    assert not any(s.deleting for s in (await acme.client.send(endpoints.list_sandboxes())).items)


async def test_only_admins_handle_the_secret_and_a_rotation_retires_the_old_one(
    acme: Org, transport: httpx.ASGITransport, runtime: Runtime
) -> None:
    await _labelled(acme)
    member = await accepted_member(acme, runtime, "dev@acme.example", teams=["default"])
    for call in (endpoints.rotate_webhook_secret(), endpoints.webhook_secret()):
        with pytest.raises(errors.Forbidden):
            await member.send(call)
    with pytest.raises(errors.NotFound):
        await acme.client.send(endpoints.webhook_secret())
    old = (await acme.client.send(endpoints.rotate_webhook_secret())).value
    new = await acme.client.send(endpoints.rotate_webhook_secret())
    shown = await acme.client.send(endpoints.webhook_secret())
    assert (shown.prefix, shown.created_by) == (new.secret.prefix, "member:owner@acme.example")
    assert (await deliver(transport, "acme", closed(42), secret=old)).status_code == 401
    assert (await deliver(transport, "acme", closed(42), secret=new.value)).status_code == 200
    audit = await acme.client.send(endpoints.audit(action="webhook.secret.rotate"))
    assert len(audit.items) == 2
