"""The route server's HTTP/JSON API on an in-process state (no network, no cluster)."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef
from sandboxmesh.routing.core.upstreams import ServiceAddresses
from sandboxmesh.routing.metrics import RouteServerMetrics
from sandboxmesh.routing.state import RouteState
from sandboxmesh.routing.xds import http_api
from sandboxmesh.routing.xds.service import AggregatedDiscoveryService

KEY = "abcdefghij12"


def client_for(state: RouteState) -> TestClient:
    metrics = RouteServerMetrics()
    return TestClient(
        http_api.create_app(state, AggregatedDiscoveryService(state, metrics), metrics)
    )


def test_readiness_waits_for_the_first_list_and_the_table_is_served() -> None:
    state = RouteState(KeyHeaders(), ServiceAddresses())
    client = client_for(state)
    assert client.get("/healthz").json() == {"status": "ok"}
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["code"] == "not_synced"
    state.set_table(
        RouteTable(
            routes={
                ServiceRef("shop", "checkout"): (
                    ForkRoute(KEY, "pr-1", ServiceRef("shop", "checkout-pr-1")),
                )
            }
        )
    )
    assert client.get("/readyz").status_code == 200
    table = client.get("/v1/routes").json()
    assert table["synced"] is True
    assert table["generation"] == 1
    assert table["baselines"][0]["routes"] == [
        {"routingKey": KEY, "sandbox": "pr-1", "forkService": "checkout-pr-1"}
    ]
    one = client.get("/v1/routes/shop/checkout").json()
    assert one["routes"][0]["forkService"] == "checkout-pr-1"
    assert client.get("/v1/xds/nodes").json() == {"nodes": []}
    assert "sandboxmesh_xds_streams 0.0" in client.get("/metrics").text


def test_errors_are_json_with_a_code() -> None:
    client = client_for(RouteState(KeyHeaders(), ServiceAddresses()))
    missing = client.get("/v1/routes/shop/payments")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": "no_routes",
        "message": "no fork routes for Service shop/payments: requests reach the baseline",
        "details": {"namespace": "shop", "service": "payments"},
    }
    unknown = client.get("/nowhere")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
    wrong_method = client.post("/v1/routes")
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()) == {"code", "message", "details"}


def test_state_changes_wake_waiters_with_the_new_generation() -> None:
    async def scenario() -> int:
        state = RouteState(KeyHeaders(), ServiceAddresses())
        waiter = asyncio.create_task(state.wait_changed(0))
        await asyncio.sleep(0)
        assert not waiter.done()
        state.set_table(RouteTable())  # synced for the first time: a change
        state.set_table(RouteTable())  # no change: no new generation
        return await asyncio.wait_for(waiter, timeout=5)

    assert asyncio.run(scenario()) == 1
