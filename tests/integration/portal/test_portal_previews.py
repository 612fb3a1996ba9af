"""The authorize page of authenticated previews, through the real app: a signed-in member is
sent to the preview's callback with a token the published keys verify; anyone else gets a
page (sign-in first, then back; 404 for another organisation; 4xx for what is not one of the
sandbox's preview URLs), never a redirect elsewhere and never a 500."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import jwt
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from tests.integration.portal.portal_client import (
    Portal,
    create_sandbox,
    invite,
    join,
    register_cluster,
    revealed,
    text,
)

from sandboxmesh.client import AsyncControlPlaneClient, ClientConfig, endpoints
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.store import tables
from sandboxmesh.spec import Phase, SandboxStatus, preview
from sandboxmesh.spec.protocol import (
    FEATURE_PREVIEW_KEYS,
    SandboxStatusReport,
    StatusReportBatch,
)

PASSWORD = "correct horse battery"
AUTHORIZE = "/portal/preview/authorize"
DOMAIN = "preview.example.com"
ISSUER = "http://127.0.0.1:8080"


@dataclass
class Previewed:
    key: str
    host: str
    jwks: dict[str, object]


@pytest.fixture
async def previewed(owner: Portal, app: FastAPI) -> Previewed:
    """Sandbox pr-1 of acme, whose agent reported the preview URL of its endpoint `web`."""
    token = await register_cluster(owner)
    created = await create_sandbox(owner, name="pr-1")
    assert created.status_code == 303, text(created.text)[:500]
    async with AsyncControlPlaneClient(
        ClientConfig(url="http://portal.test", token=token, agent_version="agent/test"),
        transport=httpx.ASGITransport(app=app),
    ) as agent:
        batch = await agent.send(endpoints.assignments(0, wait=0, features=(FEATURE_PREVIEW_KEYS,)))
        key = batch.assignments[0].spec.routing_key
        host = f"web-{key}.{DOMAIN}"
        status = SandboxStatus.model_validate(
            {
                "phase": Phase.READY,
                "ready": True,
                "reason": "Ready",
                "previewUrls": [
                    {
                        "name": "web",
                        "url": f"https://{host}/",
                        "namespace": "shop",
                        "service": "web",
                        "port": 80,
                    }
                ],
            }
        )
        ack = await agent.send(
            endpoints.report_status(
                StatusReportBatch(
                    reports=[SandboxStatusReport(name="pr-1", observed_generation=1, status=status)]
                )
            )
        )
        assert ack.accepted == ["pr-1"]
    assert batch.preview_keys is not None
    return Previewed(key=key, host=host, jwks=batch.preview_keys.jwks)


def _authorize(url: str) -> str:
    return f"{AUTHORIZE}?{preview.AUTHORIZE_URL_PARAM}={quote(url, safe='')}"


def _verified(location: str, previewed: Previewed) -> tuple[dict[str, object], list[str]]:
    """The token's claims, verified with the published keys, and `next`."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == f"https://{previewed.host}"
    assert parts.path == preview.CALLBACK_PATH
    query = parse_qs(parts.query, strict_parsing=True)
    assert set(query) == {preview.CALLBACK_TOKEN_PARAM, preview.CALLBACK_NEXT_PARAM}
    [token] = query[preview.CALLBACK_TOKEN_PARAM]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    keys = jwt.PyJWKSet.from_dict(previewed.jwks)
    claims = jwt.decode(
        token,
        keys[header["kid"]].key,
        algorithms=["ES256"],
        audience=previewed.host,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "sub", "iat", "exp"]},
    )
    return claims, query[preview.CALLBACK_NEXT_PARAM]


async def test_a_member_is_sent_back_to_the_preview_with_a_token_the_keys_verify(
    owner: Portal, previewed: Previewed, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        answer = await owner.client.get(
            _authorize(f"https://{previewed.host.upper()}/cart/items?id=7&q=a%20b#top")
        )
    assert answer.status_code == 303, text(answer.text)[:500]
    # The answer carrying a token is kept by no cache and sends no referrer elsewhere.
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "same-origin"
    location = answer.headers["location"]
    claims, next_path = _verified(location, previewed)
    assert next_path == ["/cart/items?id=7&q=a%20b"]
    assert claims["sub"] == "owner@acme.example"
    assert claims[preview.SANDBOX_CLAIM] == "pr-1"
    assert claims["aud"] == previewed.host
    assert claims["exp"] - claims["iat"] == 3600  # type: ignore[operator]
    token = parse_qs(urlsplit(location).query)[preview.CALLBACK_TOKEN_PARAM][0]
    logged = [r for r in caplog.records if r.getMessage() == "preview token signed"]
    assert len(logged) == 1
    assert all(token not in str(vars(record)) for record in caplog.records)
    signed = runtime.metrics.registry.get_sample_value(
        "sandboxmesh_preview_authorizations_total", {"outcome": "signed"}
    )
    assert signed == 1
    # No path at all: back to "/"; a path that a browser would read as another host's: not.
    bare = await owner.client.get(_authorize(f"https://{previewed.host}"))
    assert _verified(bare.headers["location"], previewed)[1] == ["/"]
    sneaky = await owner.client.get(_authorize(f"https://{previewed.host}//evil.example/x"))
    assert _verified(sneaky.headers["location"], previewed)[1] == ["/evil.example/x"]


async def test_a_viewer_may_open_previews_too(owner: Portal, previewed: Previewed) -> None:
    viewer = owner.another()
    joined = await join(viewer, await invite(owner, "viewer"), "vic@acme.example", PASSWORD)
    assert joined.status_code == 303
    answer = await viewer.client.get(_authorize(f"https://{previewed.host}/"))
    assert answer.status_code == 303
    claims, _ = _verified(answer.headers["location"], previewed)
    assert claims["sub"] == "vic@acme.example"


async def test_signing_in_first_comes_back_to_the_authorize_page(
    owner: Portal, previewed: Previewed
) -> None:
    browser = owner.another()
    asked = _authorize(f"https://{previewed.host}/checkout?step=2")
    answer = await browser.client.get(asked)
    assert answer.status_code == 303
    login = answer.headers["location"]
    assert login.startswith("/portal/login?next=")
    page = await browser.client.get(login)
    assert page.status_code == 200
    found = re.search(r'name="next" value="([^"]*)"', page.text)
    assert found
    next_field = found.group(1).replace("&amp;", "&")
    assert next_field == asked
    signed_in = await browser.submit(
        "/login",
        "/login",
        {"email": "owner@acme.example", "password": PASSWORD, "next": next_field},
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == asked
    back = await browser.client.get(signed_in.headers["location"])
    assert back.status_code == 303
    claims, next_path = _verified(back.headers["location"], previewed)
    assert next_path == ["/checkout?step=2"]
    assert claims["sub"] == "owner@acme.example"


async def test_another_organisations_member_is_told_nothing(
    owner: Portal, previewed: Previewed
) -> None:
    stranger = owner.another()
    await stranger.sign_up("owner@globex.example", PASSWORD, "globex")
    answer = await stranger.client.get(_authorize(f"https://{previewed.host}/"))
    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")
    assert "pr-1" not in answer.text
    unknown = await stranger.client.get(_authorize(f"https://web-{'z' * 16}.{DOMAIN}/"))
    assert unknown.status_code == 404
    assert text(answer.text) == text(unknown.text).replace("z" * 16, previewed.key)


@pytest.mark.parametrize(
    "url",
    [
        "https://api-{key}.preview.example.com/",  # an endpoint the sandbox has no URL for
        "http://web-{key}.preview.example.com/",  # another scheme
        "https://web-{key}.preview.example.com:8443/",  # another port
        "https://web-{key}.elsewhere.example.org/",  # another domain
        "https://web-{key}.preview.example.com.evil.example/",
    ],
)
async def test_an_origin_not_among_the_sandboxs_preview_urls_is_refused(
    owner: Portal, previewed: Previewed, url: str
) -> None:
    answer = await owner.client.get(_authorize(url.format(key=previewed.key)))
    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")


async def test_a_sandbox_without_reported_preview_urls_signs_nothing(
    owner: Portal, previewed: Previewed, runtime: Runtime
) -> None:
    assert (await create_sandbox(owner, name="pr-2")).status_code == 303
    async with runtime.unit_of_work() as tx:
        key = await tx.conn.scalar(
            sa.select(tables.sandboxes.c.routing_key).where(tables.sandboxes.c.name == "pr-2")
        )
    answer = await owner.client.get(_authorize(f"https://web-{key}.{DOMAIN}/"))
    assert answer.status_code == 404
    assert "location" not in answer.headers


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?url=",
        "?other=1",
        "?url=javascript%3Aalert(1)",
        "?url=%2F%2Fevil.example%2F",
        "?url=https%3A%2F%2Fevil.example%2F",
        "?url=https%3A%2F%2F%5B%3A%3A1",
        "?url=https%3A%2F%2Fweb-{key}.preview.example.com%3Anope%2F",
        "?url=https%3A%2F%2Fu%3Ap%40web-{key}.preview.example.com%2F",
        "?url=https%3A%2F%2Fweb-{key}.preview.example.com%2F%E2%98%83",
        "?url=https%3A%2F%2Fweb-{key}.preview.example.com%2F" + "a" * 3000,
        "?url=https%3A%2F%2Fweb-{key}.preview.example.com%2F" + "a" * 9000,
        "?url[]=x",
        "?url=%ff%fe",
    ],
)
async def test_malformed_forged_or_huge_urls_get_a_page_never_a_redirect_or_500(
    owner: Portal, previewed: Previewed, query: str
) -> None:
    answer = await owner.client.get(AUTHORIZE + query.format(key=previewed.key))
    assert 400 <= answer.status_code < 500, (answer.status_code, text(answer.text)[:300])
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")


async def test_a_route_groups_preview_is_authorized_by_its_members_urls(
    owner: Portal, previewed: Previewed
) -> None:
    created = await owner.submit("/tokens", "/tokens", {"name": "tests", "expires_in_days": "1"})
    api_token = revealed((await owner.follow(created)).text, "api-token")
    headers = {"Authorization": f"Bearer {api_token}"}
    sandbox = (await owner.client.get("/api/v1/sandboxes/pr-1", headers=headers)).json()
    labelled = {**sandbox["spec"], "labels": {"pr": "1"}}
    applied = await owner.client.put(
        "/api/v1/sandboxes/pr-1", headers=headers, json={"name": "pr-1", "spec": labelled}
    )
    assert applied.status_code == 200, applied.text
    selector = {"matchLabels": {"pr": "1"}}
    group = {"name": "grp-1", "spec": {"cluster": "staging", "selector": selector}}
    made = await owner.client.put("/api/v1/routegroups/grp-1", headers=headers, json=group)
    assert made.status_code == 201, made.text
    group_key = made.json()["routingKey"]
    group_host = f"web-{group_key}.{DOMAIN}"

    answer = await owner.client.get(_authorize(f"https://{group_host}/x"))
    assert answer.status_code == 303, text(answer.text)[:300]
    claims, next_path = _verified(
        answer.headers["location"], Previewed(group_key, group_host, previewed.jwks)
    )
    assert (claims["aud"], claims[preview.SANDBOX_CLAIM], next_path) == (
        group_host,
        "grp-1",
        ["/x"],
    )
    # An endpoint no member has, under the group's key: not a preview.
    other = await owner.client.get(_authorize(f"https://api-{group_key}.{DOMAIN}/"))
    assert other.status_code == 404
    # Another organisation's member: not found, as for a sandbox.
    stranger = owner.another()
    await stranger.sign_up("owner@globex.example", PASSWORD, "globex")
    assert (await stranger.client.get(_authorize(f"https://{group_host}/"))).status_code == 404
