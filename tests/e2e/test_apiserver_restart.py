"""A restart of the real kube-apiserver under the running system: every component follows.

Every watch and connection of the route server, the operator and the agent drops at once
(the API server closes them and refuses connections for a few seconds). Afterwards a new
sandbox and a deletion must reach each of them: the route table, the forks, the status the
control plane shows.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from lightkube import Client
from lightkube.resources.apps_v1 import Deployment
from tests.e2e.conftest import System, manifest
from tests.support.eventually import eventually
from tests.support.system import Process

from sandboxmesh.dev.pytest_plugin import KubeTarget

pytestmark = [pytest.mark.cluster]

#: Seconds of lease: its renew deadline (10 s) outlasts the API server's restart (4 s here).
LEASE_SECONDS = 15


def _routing_keys(route_server: Process) -> set[str]:
    table = httpx.get(route_server.url("/v1/routes"), timeout=5).json()
    return {r["routingKey"] for b in table["baselines"] for r in b["routes"]}


def _forks(client: Client, namespace: str) -> set[str]:
    return {
        d.metadata.name for d in client.list(Deployment, namespace=namespace)
        if d.metadata is not None and d.metadata.name and "-sbx-" in d.metadata.name
    }  # fmt: skip


def test_after_the_api_server_restarts_routes_forks_and_status_follow_a_change(
    system: System, shop: str, kube_client: Client, kube_target: KubeTarget, tmp_path: Path
) -> None:
    if kube_target.local is None:
        pytest.skip("restarts the API server of the local cluster")
    operator = system.start_operator(lease_duration=LEASE_SECONDS)
    agent = system.start_agent()
    routes = system.start_route_server()
    before, after = f"e2e-{uuid.uuid4().hex[:6]}", f"e2e-{uuid.uuid4().hex[:6]}"
    system.cli("sandbox", "apply", "-f", str(manifest(tmp_path / "a.yaml", before, shop)),
               "--wait", "--timeout", "120s")  # fmt: skip
    key_before = system.cli_json("sandbox", "get", before)["status"]["routingKey"]
    eventually(lambda: key_before in _routing_keys(routes), timeout=30, what="the first route")

    kube_target.local.restart_apiserver()

    # A change that every component must see through a watch it had to re-establish.
    system.cli("sandbox", "apply", "-f", str(manifest(tmp_path / "b.yaml", after, shop)),
               "--wait", "--timeout", "120s")  # fmt: skip
    system.cli("sandbox", "delete", before, "--wait", "--timeout", "120s")
    key_after = system.cli_json("sandbox", "get", after)["status"]["routingKey"]
    eventually(
        lambda: _routing_keys(routes) == {key_after},
        timeout=30,
        what="the route table to have the new sandbox's route and not the deleted one's",
    )
    assert _forks(kube_client, shop) == {f"checkout-sbx-{after}"}
    assert [item["name"] for item in system.cli_json("sandbox", "list")["items"]] == [after]
    for process in (operator, agent, routes):
        assert process.alive(), f"{process.name} exited:\n{process.log()[-3000:]}"
        assert process.is_ready(), f"{process.name} is not ready:\n{process.log()[-3000:]}"
