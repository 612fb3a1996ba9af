"""Real Envoy's key lookup (envoy_resources.route_configuration): what the baggage-reading
filters leave behind, and the edges of the exact-header lookup."""

from __future__ import annotations

from typing import Any

from tests.integration.routing.conftest import DataPlane, StartDataPlane
from tests.support.eventually import eventually

from sandboxmesh.routing.core import envoy_resources, matching
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef

KEY_1 = "key1aaaaaaaaaa"
KEY_2 = "key2bbbbbbbbbb"
MEMBER = matching.BAGGAGE_MEMBER


def routed(start_data_plane: StartDataPlane) -> DataPlane:
    plane = start_data_plane(["checkout"], ["checkout-pr-1", "checkout-pr-2"])
    plane.server.set_table(
        RouteTable(
            routes={
                ServiceRef("shop", "checkout"): (
                    ForkRoute(KEY_1, "pr-1", ServiceRef("shop", "checkout-pr-1")),
                    ForkRoute(KEY_2, "pr-2", ServiceRef("shop", "checkout-pr-2")),
                )
            }
        )
    )
    eventually(
        lambda: plane.served_by("checkout", [("baggage", f"{MEMBER}={KEY_2}")]) == "checkout-pr-2",
        timeout=5,
        what="the routes live",
    )
    return plane


def received(plane: DataPlane, headers: list[tuple[str, str]]) -> dict[str, Any]:
    port = plane.listener_ports[plane.fronts["checkout"].name]
    response = plane.client.get(f"http://127.0.0.1:{port}/hello", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_workload_gets_the_request_without_what_the_lookup_used(
    start_data_plane: StartDataPlane,
) -> None:
    plane = routed(start_data_plane)
    ours = {matching.BAGGAGE_KEY_HEADER, envoy_resources.REROUTE_HEADER, "x-envoy-ip-tags"}
    for headers, served in [
        ([], "checkout"),
        ([("baggage", f"u=1, {MEMBER}={KEY_1};p=2")], "checkout-pr-1"),
        ([("baggage", f"{MEMBER}=%6b{KEY_1[1:]}")], "checkout-pr-1"),
        ([("baggage", "u=1")], "checkout"),
        ([(matching.BAGGAGE_KEY_HEADER, KEY_1)], "checkout"),
        ([(matching.BAGGAGE_KEY_HEADER, KEY_1), ("baggage", f"{MEMBER}=x")], "checkout"),
        ([(matching.BAGGAGE_KEY_HEADER, "x"), ("baggage", f"{MEMBER}={KEY_2}")], "checkout-pr-2"),
        # A client posing as Envoy's second pick.
        (
            [
                (envoy_resources.REROUTE_HEADER, envoy_resources.REROUTE_TAG),
                (matching.BAGGAGE_KEY_HEADER, KEY_1),
            ],
            "checkout",
        ),
        (
            [
                (envoy_resources.REROUTE_HEADER, envoy_resources.REROUTE_TAG),
                (matching.BAGGAGE_KEY_HEADER, KEY_1),
                ("baggage", f"{MEMBER}={KEY_2}"),
            ],
            "checkout-pr-2",
        ),
    ]:
        body = received(plane, headers)
        assert body["servedBy"] == served, headers
        assert ours.isdisjoint(body["headerNames"]), (headers, body["headerNames"])
        assert body["baggage"] == [v for k, v in headers if k == "baggage"]


def test_a_repeated_exact_header_carries_no_key(start_data_plane: StartDataPlane) -> None:
    plane = routed(start_data_plane)
    header = matching.ROUTING_KEY_HEADER
    assert received(plane, [(header, KEY_1)])["servedBy"] == "checkout-pr-1"
    assert received(plane, [(header, KEY_1), (header, KEY_1)])["servedBy"] == "checkout"
