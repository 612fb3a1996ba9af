"""Rendering of Envoy resources, the bootstrap, fronts and the address map (pure functions)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.header_to_metadata.v3 import header_to_metadata_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.matcher.v3 import http_inputs_pb2

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


def _unpack(action: Any) -> route_components_pb2.Route | route_components_pb2.RouteList:
    kind = (
        route_components_pb2.Route
        if action.typed_config.Is(route_components_pb2.Route.DESCRIPTOR)
        else route_components_pb2.RouteList
    )
    message = kind()
    action.typed_config.Unpack(message)
    return message


def _walk(matcher: Any, headers: dict[str, str]) -> route_components_pb2.Route:
    """Envoy's reading of a virtual host's match tree, as far as our trees go."""
    found = None
    if matcher.HasField("matcher_tree"):
        tree = matcher.matcher_tree
        header = tree.input.typed_config
        matched = http_inputs_pb2.HttpRequestHeaderMatchInput()
        header.Unpack(matched)
        value = headers.get(matched.header_name)
        if value is not None and value in tree.exact_match_map.map:
            found = tree.exact_match_map.map[value]
    else:
        for field in matcher.matcher_list.matchers:
            single = field.predicate.single_predicate
            matched = http_inputs_pb2.HttpRequestHeaderMatchInput()
            single.input.typed_config.Unpack(matched)
            value = headers.get(matched.header_name)
            wanted = single.value_match
            if value is not None and (
                value == wanted.exact
                if wanted.HasField("exact")
                else re.fullmatch(wanted.safe_regex.regex, value)
            ):
                found = field.on_match
                break
    found = found or matcher.on_no_match
    if found.HasField("matcher"):
        return _walk(found.matcher, headers)
    picked = _unpack(found.action)
    if isinstance(picked, route_components_pb2.Route):
        return picked
    for route in picked.routes:  # a list: each route's own header matches, in order
        if all(
            m.name in headers and re.fullmatch(m.string_match.safe_regex.regex, headers[m.name])
            for m in route.match.headers
        ):
            return route
    raise AssertionError("a route list without a catch-all")


def pick(
    config: route_pb2.RouteConfiguration, headers: dict[str, str]
) -> route_components_pb2.Route:
    """The route Envoy ends on: a first pick, then, when that route keeps the baggage-reading
    filters, a second one with the value they read in its header (replacing the client's)."""
    (host,) = config.virtual_hosts
    if not host.HasField("matcher"):
        (route,) = host.routes
        return route
    first = _walk(host.matcher, headers)
    if envoy_resources.BAGGAGE_READ_FILTER in first.typed_per_filter_config:
        return first
    read = re.fullmatch(matching.baggage_key_pattern(), headers.get("baggage", ""))
    again = {
        **headers,
        matching.BAGGAGE_KEY_HEADER: read.group(1) if read else "",
        envoy_resources.REROUTE_HEADER: envoy_resources.REROUTE_TAG,
    }
    return _walk(host.matcher, again)


def test_routes_look_up_exact_headers_in_order_then_baggage_then_the_baseline() -> None:
    headers = matching.KeyHeaders.with_extra(["x-tenant-key"])
    config = envoy_resources.route_configuration(
        FRONT, TABLE.routes_for(FRONT.baseline), headers, lambda _: True
    )
    pr1, pr2 = "fork|shop|checkout-pr-1|80", "fork|shop|checkout-pr-2|80"
    baseline = "baseline|shop|checkout|80"
    member = matching.BAGGAGE_MEMBER
    cases = [
        ({}, "baseline", baseline),
        ({"x-sandboxmesh-routing-key": KEY_2}, "pr-2|x-sandboxmesh-routing-key", pr2),
        ({"x-tenant-key": KEY_1}, "pr-1|x-tenant-key", pr1),
        ({"x-sandboxmesh-routing-key": f"{KEY_1},{KEY_1}"}, "baseline", baseline),
        # The first exact header that names a key wins, then exact headers over baggage.
        ({"x-sandboxmesh-routing-key": KEY_2, "x-tenant-key": KEY_1}, "pr-2|", pr2),
        ({"x-tenant-key": KEY_2, "baggage": f"{member}={KEY_1}"}, "pr-2|x-tenant-key", pr2),
        ({"x-tenant-key": "unknownkey00", "baggage": f"{member}={KEY_1}"}, "pr-1|baggage", pr1),
        ({"baggage": f"u=1, {member} = {KEY_2} ;p"}, "pr-2|baggage", pr2),
        ({"baggage": f"{member}=%61aaaaaaaaa11"}, "pr-1|baggage", pr1),
        ({"baggage": f"{member}={KEY_2},{member}={KEY_1}"}, "pr-1|baggage", pr1),
        ({"baggage": "u=1"}, "baseline", baseline),
        ({"baggage": f"{member}=unknownkey00"}, "baseline", baseline),
        # A client's own value where the read value goes counts for nothing.
        ({matching.BAGGAGE_KEY_HEADER: KEY_1}, "baseline", baseline),
        ({matching.BAGGAGE_KEY_HEADER: KEY_1, "baggage": f"{member}=x"}, "baseline", baseline),
        (
            {envoy_resources.REROUTE_HEADER: "reroute", "baggage": f"{member}=x"},
            "baseline",
            baseline,
        ),
        (
            {
                envoy_resources.REROUTE_HEADER: "reroute",
                matching.BAGGAGE_KEY_HEADER: KEY_1,
                "baggage": f"{member}=%61",
            },
            "baseline",
            baseline,
        ),
    ]
    for request, name, cluster_name in cases:
        route = pick(config, request)
        assert route.name.startswith(name), (request, route.name)
        assert route.route.cluster == cluster_name, request
        # Only a refused connection (nothing sent) is tried again, and only towards a fork.
        assert route.route.HasField("retry_policy") == (cluster_name != baseline)
    assert envoy_resources.route_clusters(config) == {pr1, pr2, baseline}
    (host,) = config.virtual_hosts
    assert set(host.request_headers_to_remove) == {
        matching.BAGGAGE_KEY_HEADER,
        envoy_resources.REROUTE_HEADER,
    }


def test_routes_skip_forks_whose_cluster_envoy_does_not_have() -> None:
    config = envoy_resources.route_configuration(
        FRONT,
        TABLE.routes_for(FRONT.baseline),
        matching.KeyHeaders(),
        lambda name: name == "fork|shop|checkout-pr-2|80",
    )
    clusters = envoy_resources.route_clusters(config)
    assert clusters == {"fork|shop|checkout-pr-2|80", "baseline|shop|checkout|80"}
    none = envoy_resources.route_configuration(
        FRONT, TABLE.routes_for(FRONT.baseline), matching.KeyHeaders(), lambda name: False
    )
    assert envoy_resources.route_clusters(none) == {"baseline|shop|checkout|80"}
    assert pick(none, {"x-sandboxmesh-routing-key": KEY_1}).name == "baseline"


def test_the_listener_reads_the_baggage_member_before_the_router() -> None:
    front_listener = envoy_resources.listener(FRONT, matching.KeyHeaders())
    (chain,) = front_listener.filter_chains
    manager = hcm_pb2.HttpConnectionManager()
    chain.filters[0].typed_config.Unpack(manager)
    assert [f.name for f in manager.http_filters] == [
        envoy_resources.BAGGAGE_READ_FILTER,
        envoy_resources.BAGGAGE_HEADER_FILTER,
        envoy_resources.REROUTE_FILTER,
        "envoy.filters.http.router",
    ]
    read = header_to_metadata_pb2.Config()
    manager.http_filters[0].typed_config.Unpack(read)
    (rule,) = read.request_rules
    assert rule.header == "baggage"
    rewrite = rule.on_header_present.regex_value_rewrite
    assert rewrite.pattern.regex == matching.baggage_key_pattern()
    assert rewrite.substitution == "\\1"


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
