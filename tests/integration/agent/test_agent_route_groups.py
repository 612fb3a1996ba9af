"""The agent carries route groups from the real control plane to RouteGroup objects in the
real API server: applied, updated, deleted, and pruned on start when no longer assigned."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from tests.integration.agent.conftest import CLUSTER, AgentRunner, ControlPlane
from tests.support.eventually import eventually

from sandboxmesh import kube
from sandboxmesh.client import endpoints

pytestmark = pytest.mark.cluster

AGENT_LABELS = {"app.kubernetes.io/managed-by": "sandboxmesh-agent"}


@pytest.fixture
def route_group_cleanup(kube_client: Client) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(ApiError):
            kube_client.delete(kube.RouteGroup, name)


def _cr(client: Client, name: str) -> dict[str, Any] | None:
    try:
        return kube.to_dict(client.get(kube.RouteGroup, name))
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise


def _group(name: str, labels: dict[str, str], description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "spec": {
            "cluster": CLUSTER,
            "description": description,
            "selector": {"matchLabels": labels},
        },
    }


def test_route_groups_become_objects_follow_their_intent_and_stale_ones_are_pruned(
    control_plane: ControlPlane,
    agents: AgentRunner,
    kube_client: Client,
    route_group_cleanup: list[str],
) -> None:
    suffix = uuid.uuid4().hex[:6]
    stale, unrelated, name = f"stale-{suffix}", f"mine-{suffix}", f"pr-{suffix}"
    route_group_cleanup.extend([stale, unrelated, name])
    for obj_name, labels in ((stale, AGENT_LABELS), (unrelated, {})):
        kube_client.create(
            kube.RouteGroup(
                metadata=ObjectMeta(name=obj_name, labels=labels),
                spec={"routingKey": "stale0123456789", "selector": {"matchLabels": {"a": "b"}}},
            )
        )
    created = control_plane.client.send(endpoints.apply_route_group(_group(name, {"pr": suffix})))

    agents.start()
    cr = eventually(lambda: _cr(kube_client, name), timeout=15, what="the RouteGroup object")
    assert cr["spec"] == {
        "description": "",
        "selector": {"matchLabels": {"pr": suffix}},
        "routingKey": created.routing_key,
    }
    assert cr["metadata"]["labels"] == AGENT_LABELS
    assert cr["metadata"]["annotations"]["sandboxmesh.io/generation"] == "1"
    eventually(lambda: _cr(kube_client, stale) is None, timeout=15, what="the stale one pruned")
    assert _cr(kube_client, unrelated) is not None  # not the agent's: no label

    control_plane.client.send(
        endpoints.apply_route_group(_group(name, {"pr": suffix, "repo": "web"}, "PR"))
    )
    updated = eventually(
        lambda: (cr := _cr(kube_client, name)) and cr["spec"]["description"] == "PR" and cr,
        timeout=15,
        what="the RouteGroup object updated",
    )
    assert updated["spec"]["selector"]["matchLabels"] == {"pr": suffix, "repo": "web"}
    assert updated["spec"]["routingKey"] == created.routing_key
    assert updated["metadata"]["annotations"]["sandboxmesh.io/generation"] == "2"

    control_plane.client.send(endpoints.delete_route_group(name))
    eventually(lambda: _cr(kube_client, name) is None, timeout=15, what="the object deleted")
