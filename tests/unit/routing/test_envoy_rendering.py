"""Rendering of Envoy resources, the bootstrap, fronts and the address map (pure functions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from sandboxmesh.routing.core import bootstrap, envoy_resources, fronts, matching, upstreams
from sandboxmesh.routing.core.fronts import Front
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef
from sandboxmesh.routing.core.upstreams import Address, ServiceAddresses

FRONT = Front(
    namespace="shop",
    service="checkout",
    port=80,
    listen_port=15080,
    baseline_host="127.0.0.1",
    baseline_port=8080,
)
KEY_1, KEY_2 = "aaaaaaaaaa11", "bbbbbbbbbb22"
TABLE = RouteTable(
    routes={
        FRONT.baseline: (
            ForkRoute(KEY_1, "pr-1", ServiceRef("shop", "checkout-pr-1")),
            ForkRoute(KEY_2, "pr-2", ServiceRef("shop", "checkout-pr-2")),
        ),
        ServiceRef("shop", "cart"): (ForkRoute(KEY_1, "pr-1", ServiceRef("shop", "cart-pr-1")),),
    }
)


def test_routes_try_exact_headers_for_every_key_then_baggage_then_the_baseline() -> None:
    headers = matching.KeyHeaders.with_extra(["x-tenant-key"])
    config = envoy_resources.route_configuration(
        FRONT, TABLE.routes_for(FRONT.baseline), headers, lambda _: True
    )
    (host,) = config.virtual_hosts
    seen = [
        (route.match.headers[0].name if route.match.headers else None, route.route.cluster)
        for route in host.routes
    ]
    pr1, pr2 = "fork|shop|checkout-pr-1|80", "fork|shop|checkout-pr-2|80"
    assert seen == [
        ("x-sandboxmesh-routing-key", pr1),
        ("x-tenant-key", pr1),
        ("x-sandboxmesh-routing-key", pr2),
        ("x-tenant-key", pr2),
        ("baggage", pr1),
        ("baggage", pr2),
        (None, "baseline|shop|checkout|80"),
    ]
    baggage = host.routes[4].match.headers[0].string_match.safe_regex.regex
    assert baggage == matching.baggage_pattern(KEY_1)
    assert host.routes[0].match.headers[0].string_match.exact == KEY_1
    # Only a refused connection (nothing sent) is tried again, and only towards a fork.
    for route in host.routes[:-1]:
        assert route.route.retry_policy.retry_on == "connect-failure"
        assert route.route.retry_policy.num_retries.value > 0
    assert not host.routes[-1].route.HasField("retry_policy")


def test_routes_skip_forks_whose_cluster_envoy_does_not_have() -> None:
    config = envoy_resources.route_configuration(
        FRONT,
        TABLE.routes_for(FRONT.baseline),
        matching.KeyHeaders(),
        lambda name: name == "fork|shop|checkout-pr-2|80",
    )
    clusters = {route.route.cluster for route in config.virtual_hosts[0].routes}
    assert clusters == {"fork|shop|checkout-pr-2|80", "baseline|shop|checkout|80"}


def test_clusters_reach_forks_by_cluster_dns_unless_mapped() -> None:
    mapped = ServiceAddresses(
        overrides={(ServiceRef("shop", "checkout-pr-2"), 80): Address("127.0.0.1", 9002)}
    )
    clusters = envoy_resources.front_clusters(FRONT, TABLE, mapped)
    assert set(clusters) == {
        "baseline|shop|checkout|80",
        "fork|shop|checkout-pr-1|80",
        "fork|shop|checkout-pr-2|80",
    }
    dns = clusters["fork|shop|checkout-pr-1|80"]
    assert dns.type == cluster_pb2.Cluster.STRICT_DNS
    endpoint = dns.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    assert (endpoint.address, endpoint.port_value) == ("checkout-pr-1.shop.svc.cluster.local", 80)
    static = clusters["fork|shop|checkout-pr-2|80"]
    assert static.type == cluster_pb2.Cluster.STATIC
    endpoint = static.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    assert (endpoint.address, endpoint.port_value) == ("127.0.0.1", 9002)


def test_bootstrap_carries_the_fronts_back_to_the_route_server() -> None:
    document = bootstrap.envoy_bootstrap(
        node_id="router-1",
        node_cluster="shop",
        fronts=[FRONT],
        ads=bootstrap.AdsServer("sandboxmesh-route-server.sandboxmesh-system", 18000),
    )
    json.dumps(document)  # JSON-ready, as Envoy and the chart read it
    metadata = document["node"]["metadata"]
    assert fronts.fronts_from_metadata(metadata) == [FRONT]
    (xds,) = document["static_resources"]["clusters"]
    assert xds["type"] == "STRICT_DNS"
    assert document["dynamic_resources"]["ads_config"]["api_type"] == "GRPC"


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {fronts.NODE_METADATA_FIELD: "nope"},
        {fronts.NODE_METADATA_FIELD: [{"namespace": "shop"}]},
        {fronts.NODE_METADATA_FIELD: [FRONT.model_dump(), FRONT.model_dump()]},
        {fronts.NODE_METADATA_FIELD: [{**FRONT.model_dump(), "port": 0}]},
    ],
)
def test_unusable_fronts_are_refused(metadata: dict[str, object]) -> None:
    with pytest.raises(fronts.InvalidFronts):
        fronts.fronts_from_metadata(metadata)


def test_address_map_files(tmp_path: Path) -> None:
    good = tmp_path / "map.json"
    good.write_text(json.dumps({"shop/checkout-pr-1:80": "127.0.0.1:9001", "a/b:1": "[::1]:2"}))
    assert upstreams.load_address_map(good) == {
        (ServiceRef("shop", "checkout-pr-1"), 80): Address("127.0.0.1", 9001),
        (ServiceRef("a", "b"), 1): Address("::1", 2),
    }
    for content in ["[]", '{"shop/x": "127.0.0.1:1"}', '{"shop/x:1": "nowhere"}', "{"]:
        bad = tmp_path / "bad.json"
        bad.write_text(content)
        with pytest.raises(upstreams.InvalidAddressMap):
            upstreams.load_address_map(bad)
    with pytest.raises(upstreams.InvalidAddressMap):
        upstreams.load_address_map(tmp_path / "missing.json")
