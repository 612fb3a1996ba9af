"""Preview URLs in the control plane: a reported status's previewUrls are stored and shown,
agents that ask get the preview keys on every batch (the others never see the field), and
the installation's signing key is one, whoever creates it first."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
from tests.support.controlplane import BASE_URL, Org, manifest, register_cluster

from sandboxmesh.client import AsyncControlPlaneClient, endpoints
from sandboxmesh.controlplane.domain import preview_keys
from sandboxmesh.controlplane.preview_keyring import PreviewKeyring
from sandboxmesh.controlplane.repository import preview_keys as stored_keys
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.spec import Phase, SandboxStatus
from sandboxmesh.spec.preview import PreviewUrl
from sandboxmesh.spec.protocol import (
    ASSIGNMENTS_PATH,
    FEATURE_PREVIEW_KEYS,
    SandboxStatusReport,
    StatusReportBatch,
)

AgentFactory = Callable[..., AsyncControlPlaneClient]


async def test_preview_urls_of_a_report_are_stored_and_shown(
    acme: Org, agent_client: AgentFactory
) -> None:
    agent = agent_client(await register_cluster(acme))
    created = await acme.client.send(endpoints.apply_sandbox(manifest("pr")))
    url = f"https://web-{created.routing_key}.preview.example.com/"
    status = SandboxStatus(
        phase=Phase.READY,
        ready=True,
        reason="Ready",
        preview_urls=[PreviewUrl(name="web", url=url, namespace="shop", service="web", port=80)],
    )
    ack = await agent.send(
        endpoints.report_status(
            StatusReportBatch(
                reports=[SandboxStatusReport(name="pr", observed_generation=1, status=status)]
            )
        )
    )
    assert ack.accepted == ["pr"]
    shown = await acme.client.send(endpoints.get_sandbox("pr"))
    assert [(u.name, u.url, u.service, u.port, u.access) for u in shown.status.preview_urls] == [
        ("web", url, "web", 80, "authenticated")
    ]
    raw = await acme.client.send(endpoints.Call("GET", "/api/v1/sandboxes/pr", endpoints.check))
    assert raw.json()["status"]["previewUrls"][0]["url"] == url
    listed = await acme.client.send(endpoints.list_sandboxes())
    assert listed.items[0].status.preview_urls[0].url == url


async def test_agents_that_ask_get_the_preview_keys_on_every_batch(
    acme: Org, agent_client: AgentFactory, transport: httpx.ASGITransport
) -> None:
    token = await register_cluster(acme)
    agent = agent_client(token)
    features = (FEATURE_PREVIEW_KEYS,)
    first = await agent.send(endpoints.assignments(0, wait=0, features=features))
    assert first.preview_keys is not None
    assert first.preview_keys.issuer == "http://127.0.0.1:8080"
    assert first.preview_keys.authorize_url == "http://127.0.0.1:8080/portal/preview/authorize"
    [jwk] = first.preview_keys.jwks["keys"]
    assert set(jwk) == {"kid", "kty", "crv", "x", "y", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    # An empty batch after a wait carries them too, the same.
    again = await agent.send(endpoints.assignments(first.revision, wait=0.2, features=features))
    assert again.assignments == []
    assert again.preview_keys == first.preview_keys
    # Without the feature the field is not on the wire at all (older agents parse strictly).
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as raw:
        answer = await raw.get(
            ASSIGNMENTS_PATH,
            params={"since": 0, "wait": 0},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200
        assert "previewKeys" not in answer.json()
        unauthenticated = await raw.get(
            ASSIGNMENTS_PATH, params={"since": 0, "wait": 0, "features": FEATURE_PREVIEW_KEYS}
        )
        assert unauthenticated.status_code == 401
        assert "previewKeys" not in unauthenticated.text
    plain = await agent.send(endpoints.assignments(0, wait=0))
    assert plain.preview_keys is None


async def test_the_signing_key_is_one_whoever_creates_it_first(runtime: Runtime) -> None:
    async def first_use() -> list[preview_keys.SigningKey]:
        async with runtime.unit_of_work() as tx:
            return await stored_keys.signing_keys(tx, make=preview_keys.new_signing_key)

    found = await asyncio.gather(*(first_use() for _ in range(6)))
    kids = {tuple(key.kid for key in keys) for keys in found}
    assert len(kids) == 1
    [(kid,)] = kids
    # Another process's keyring (a fresh one) reads the same key and signs with it.
    keys = await PreviewKeyring().keys(runtime.unit_of_work, runtime.clock())
    assert keys.signing.kid == kid
    assert [k["kid"] for k in keys.jwks["keys"]] == [kid]  # type: ignore[index, union-attr]
    assert "PRIVATE" not in json.dumps(keys.jwks)
