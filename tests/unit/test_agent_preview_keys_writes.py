"""The agent's poller with preview keys, over a scripted API server: the ConfigMap is applied
when the keys change and only then, and a refused write holds back nothing else."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx2
import pytest
from lightkube import AsyncClient, KubeConfig

from sandboxmesh.agent.metrics import AgentMetrics
from sandboxmesh.agent.preview_keys import PreviewKeysWriter, configmap_data
from sandboxmesh.agent.reporter import StatusReporter
from sandboxmesh.agent.store import SandboxStore
from sandboxmesh.agent.sync import AssignmentPoller
from sandboxmesh.backoff import Backoff
from sandboxmesh.spec import preview
from sandboxmesh.spec.protocol import FEATURE_PREVIEW_KEYS, AssignmentBatch

NAMESPACE = "sandboxmesh-system"
CONFIGMAP_PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{preview.PREVIEW_KEYS_CONFIGMAP}"
JWK = {"kid": "k1", "kty": "EC", "crv": "P-256", "x": "xx", "y": "yy", "alg": "ES256", "use": "sig"}


def _client(answer: Any) -> AsyncClient:
    config = KubeConfig.from_dict(
        {
            "clusters": [{"name": "c", "cluster": {"server": "http://kube.invalid"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        }
    )
    return AsyncClient(config=config, transport=httpx2.MockTransport(answer))


def _batch(revision: int, keys: list[dict[str, str]], *, sandbox: bool = False) -> AssignmentBatch:
    assignments = []
    if sandbox:
        assignments.append(
            {
                "name": "pr-42",
                "generation": 1,
                "spec": {
                    "cluster": "c",
                    "routingKey": "abcdefghij12",
                    "forks": [{"forkOf": {"namespace": "shop", "name": "checkout"}}],
                },
            }
        )
    return AssignmentBatch.model_validate(
        {
            "revision": revision,
            "resync": False,
            "assignments": assignments,
            "previewKeys": {
                "issuer": "https://cp.example.com",
                "authorizeUrl": "https://cp.example.com/portal/preview/authorize",
                "jwks": {"keys": keys},
            },
        }
    )


def _poller(client: AsyncClient) -> AssignmentPoller:
    metrics = AgentMetrics()
    return AssignmentPoller(
        session=None,  # type: ignore[arg-type]  # apply() does not poll
        store=SandboxStore(client),
        reporter=StatusReporter(_never, metrics, window=0.1, backoff=Backoff(0.1, 1)),
        metrics=metrics,
        wait=0,
        backoff=Backoff(0.1, 1),
        preview_keys=PreviewKeysWriter(client, NAMESPACE),
    )


async def test_the_configmap_is_applied_when_the_keys_change_and_only_then() -> None:
    patches: list[tuple[str, dict[str, Any]]] = []

    async def answer(request: httpx2.Request) -> httpx2.Response:
        assert request.method == "PATCH"
        assert request.url.params["fieldManager"] == "sandboxmesh-agent"
        assert request.headers["content-type"] == "application/apply-patch+yaml"
        patches.append((request.url.path, json.loads(request.content)))
        return httpx2.Response(
            200, headers={"Content-Type": "application/json"}, content=request.content
        )

    client = _client(answer)
    poller = _poller(client)
    assert poller.features == (FEATURE_PREVIEW_KEYS,)
    for revision in (1, 1, 2):
        await poller.apply(_batch(revision, [JWK]))
    assert [path for path, _ in patches] == [CONFIGMAP_PATH]
    body = patches[0][1]
    assert body["metadata"]["name"] == preview.PREVIEW_KEYS_CONFIGMAP
    assert body["metadata"]["namespace"] == NAMESPACE
    assert body["data"] == {
        preview.KEYS_ISSUER: "https://cp.example.com",
        preview.KEYS_AUTHORIZE_URL: "https://cp.example.com/portal/preview/authorize",
        preview.KEYS_JWKS: json.dumps({"keys": [JWK]}, sort_keys=True, separators=(",", ":")),
    }
    assert json.loads(body["data"][preview.KEYS_JWKS]) == {"keys": [JWK]}

    rotated = [{**JWK, "kid": "k2", "x": "x2"}, JWK]
    await poller.apply(_batch(3, rotated))
    await poller.apply(_batch(3, rotated))
    assert len(patches) == 2
    assert json.loads(patches[1][1]["data"][preview.KEYS_JWKS]) == {"keys": rotated}
    await client.close()


async def test_a_refused_write_is_logged_once_retried_and_holds_back_no_sandbox(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refuse = True
    patched: list[str] = []

    async def answer(request: httpx2.Request) -> httpx2.Response:
        headers = {"Content-Type": "application/json"}
        if "/configmaps/" in request.url.path and refuse:
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "Forbidden",
                "code": 403,
                "message": "configmaps is forbidden",
            }
            return httpx2.Response(403, headers=headers, json=status)
        patched.append(request.url.path)
        return httpx2.Response(200, headers=headers, content=request.content)

    client = _client(answer)
    poller = _poller(client)
    with caplog.at_level(logging.DEBUG, logger="sandboxmesh.agent.preview_keys"):
        await poller.apply(_batch(1, [JWK], sandbox=True))
        await poller.apply(_batch(2, [JWK]))
    assert poller.revision == 2
    assert patched == ["/apis/sandboxmesh.io/v1alpha1/sandboxes/pr-42"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "403" in errors[0]
    assert preview.PREVIEW_KEYS_CONFIGMAP in errors[0]
    refuse = False
    await poller.apply(_batch(3, [JWK]))
    assert patched[-1] == CONFIGMAP_PATH
    await client.close()


def test_the_same_keys_always_give_the_same_text() -> None:
    keys = preview.PreviewKeys(issuer="i", authorize_url="a", jwks={"keys": [JWK]})
    reordered = preview.PreviewKeys(
        issuer="i", authorize_url="a", jwks={"keys": [dict(reversed(list(JWK.items())))]}
    )
    assert configmap_data(keys) == configmap_data(reordered)


async def _never(batch: Any) -> Any:
    raise AssertionError("nothing to report")
