"""Istio and Gateway API renderers: the same rules, in the same order, as Envoy's routes."""

from __future__ import annotations

import re

from sandboxmesh.routing.core import gateway_api, istio, matching, mesh
from sandboxmesh.routing.core.mesh import MeshRoutes
from sandboxmesh.routing.core.table import ForkRoute, ServiceRef

KEYS = ["aaaaaaaaaa01", "bbbbbbbbbb02"]
TARGET = MeshRoutes(
    ServiceRef("shop", "checkout"),
    (80,),
    tuple(
        ForkRoute(key, f"pr-{i}", ServiceRef("shop", f"checkout-pr-{i}"))
        for i, key in enumerate(KEYS)
    ),
)


def test_anchored_patterns_mean_the_same_under_full_and_partial_matching() -> None:
    pattern = mesh.anchored(matching.baggage_pattern(KEYS[0]))
    for value in [
        f"a=1,sandboxmesh-routing-key={KEYS[0]};p",
        f"sandboxmesh-routing-key={KEYS[0]}x",
    ]:
        assert (re.search(pattern, value) is None) == (re.fullmatch(pattern, value) is None)
    assert re.search(pattern, f"x=1,sandboxmesh-routing-key={KEYS[0]}")


def test_virtual_service_orders_exact_headers_then_baggage_then_baseline() -> None:
    vs = istio.virtual_service(TARGET, matching.KeyHeaders(), cluster_domain="example.internal")
    assert vs["metadata"] == {
        "name": "sandboxmesh-checkout",
        "namespace": "shop",
        "labels": {
            "app.kubernetes.io/managed-by": "sandboxmesh",
            "sandboxmesh.io/baseline": "checkout",
        },
    }
    assert vs["spec"]["hosts"] == ["checkout.shop.svc.example.internal"]
    http = vs["spec"]["http"]
    assert [r["name"] for r in http] == [
        "pr-0-header", "pr-1-header", "pr-0-baggage", "pr-1-baggage", "baseline"
    ]  # fmt: skip
    assert http[1]["match"] == [{"headers": {"x-sandboxmesh-routing-key": {"exact": KEYS[1]}}}]
    assert http[2]["match"] == [
        {"headers": {"baggage": {"regex": mesh.anchored(matching.baggage_pattern(KEYS[0]))}}}
    ]
    assert "match" not in http[-1]


def test_http_routes_per_port_with_the_baseline_as_last_rule() -> None:
    target = MeshRoutes(TARGET.baseline, (80, 9090), TARGET.routes)
    routes = gateway_api.http_routes(target, matching.KeyHeaders())
    assert [r["metadata"]["name"] for r in routes] == [
        "sandboxmesh-checkout-80",
        "sandboxmesh-checkout-9090",
    ]
    for route, port in zip(routes, (80, 9090), strict=True):
        assert route["spec"]["parentRefs"] == [
            {"group": "", "kind": "Service", "name": "checkout", "port": port}
        ]
        rules = route["spec"]["rules"]
        assert [r["backendRefs"] for r in rules] == [
            [{"name": "checkout-pr-0", "port": port}],
            [{"name": "checkout-pr-1", "port": port}],
            [{"name": "checkout-pr-0", "port": port}],
            [{"name": "checkout-pr-1", "port": port}],
            [{"name": "checkout", "port": port}],
        ]
        assert "matches" not in rules[-1]


def test_many_forks_split_into_routes_of_at_most_sixteen_rules() -> None:
    routes = tuple(
        ForkRoute(f"key{i:09d}", f"pr-{i}", ServiceRef("shop", f"c-{i}")) for i in range(20)
    )
    rendered = gateway_api.http_routes(
        MeshRoutes(TARGET.baseline, (80,), routes), matching.KeyHeaders()
    )
    sizes = [len(r["spec"]["rules"]) for r in rendered]
    assert sizes == [16, 16, 9]
    names = [rule["name"] for r in rendered for rule in r["spec"]["rules"]]
    assert names[:20] == [f"pr-{i}-header" for i in range(20)]
    assert names[-1] == "baseline"
