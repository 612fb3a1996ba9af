"""The agent's poller with route groups, over a scripted API server: a cluster without the
RouteGroup CRD still gets its sandboxes, and the agent asks for the feature it handles."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx2
import pytest
from lightkube import AsyncClient, KubeConfig

from sandboxmesh.agent.metrics import AgentMetrics
from sandboxmesh.agent.reporter import StatusReporter
from sandboxmesh.agent.store import RouteGroupStore, SandboxStore
from sandboxmesh.agent.sync import AssignmentPoller
from sandboxmesh.backoff import Backoff
from sandboxmesh.spec.protocol import FEATURE_ROUTE_GROUPS, AssignmentBatch


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


BATCH = AssignmentBatch.model_validate(
    {
        "revision": 3,
        "resync": False,
        "assignments": [
            {
                "name": "pr-42",
                "generation": 1,
                "spec": {
                    "cluster": "c",
                    "routingKey": "abcdefghij12",
                    "forks": [{"forkOf": {"namespace": "shop", "name": "checkout"}}],
                },
            }
        ],
        "routeGroups": [
            {
                "name": "pr-42",
                "generation": 1,
                "spec": {"selector": {"matchLabels": {"pr": "42"}}, "routingKey": "grp0000000042"},
            }
        ],
    }
)


async def test_without_the_route_group_crd_sandboxes_are_applied_and_one_line_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    patched: list[str] = []

    async def answer(request: httpx2.Request) -> httpx2.Response:
        headers = {"Content-Type": "application/json"}
        if "/routegroups" in request.url.path:
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                      "reason": "NotFound", "code": 404, "message": "the server could not "
                      "find the requested resource"}  # fmt: skip
            return httpx2.Response(404, headers=headers, json=status)
        patched.append(request.url.path)
        return httpx2.Response(200, headers=headers, content=request.content or json.dumps({}))

    client = _client(answer)
    metrics = AgentMetrics()
    reporter = StatusReporter(_never, metrics, window=0.1, backoff=Backoff(0.1, 1))
    poller = AssignmentPoller(
        session=None,  # type: ignore[arg-type]  # apply() does not poll
        store=SandboxStore(client),
        reporter=reporter,
        metrics=metrics,
        wait=0,
        backoff=Backoff(0.1, 1),
        route_groups=RouteGroupStore(client),
    )
    assert poller.features == (FEATURE_ROUTE_GROUPS,)
    with caplog.at_level(logging.ERROR):
        await poller.apply(BATCH)
    await client.close()
    assert patched == ["/apis/sandboxmesh.io/v1alpha1/sandboxes/pr-42"]
    assert poller.revision == 3
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "no RouteGroup CRD" in line


async def _never(batch: Any) -> Any:
    raise AssertionError("nothing to report")
