"""Real Envoy, fed over ADS by the route server, routing real HTTP requests by key."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from tests.integration.routing.conftest import StartDataPlane
from tests.integration.routing.routing_backends import http_backend
from tests.support.eventually import eventually
from tests.unit.routing import baggage_cases

from sandboxmesh.routing.core import matching
from sandboxmesh.routing.core.fronts import Front
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef
from sandboxmesh.routing.core.upstreams import Address
from sandboxmesh.routing.server import Listen, RouteServerSettings, RouteServerThread

KEY_1 = "key1aaaaaaaaaa"
KEY_2 = "key2bbbbbbbbbb"
KEY_3 = "key3cccccccccc"
UNKNOWN = "key9zzzzzzzzzz"


def shop(name: str) -> ServiceRef:
    return ServiceRef("shop", name)


TABLE = RouteTable(
    routes={
        shop("checkout"): (
            ForkRoute(KEY_1, "pr-1", shop("checkout-pr-1")),
            ForkRoute(KEY_2, "pr-2", shop("checkout-pr-2")),
        ),
        shop("cart"): (ForkRoute(KEY_3, "pr-3", shop("cart-pr-3")),),
    }
)


def test_requests_reach_the_fork_of_their_key_and_everything_else_the_baseline(
    start_data_plane: StartDataPlane,
) -> None:
    plane = start_data_plane(
        ["checkout", "cart"],
        ["checkout-pr-1", "checkout-pr-2", "cart-pr-3"],
        headers=KeyHeaders.with_extra(["x-tenant-route"]),
    )
    assert plane.served_by("checkout") == "checkout"
    plane.server.set_table(TABLE)
    eventually(
        lambda: (
            plane.served_by("checkout", [("x-sandboxmesh-routing-key", KEY_1)]) == "checkout-pr-1"
        ),
        timeout=5,
        what="the first route live",
    )
    cases: list[tuple[str, list[tuple[str, str]], str]] = [
        ("checkout", [], "checkout"),
        ("checkout", [("x-sandboxmesh-routing-key", KEY_1)], "checkout-pr-1"),
        ("checkout", [("x-tenant-route", KEY_2)], "checkout-pr-2"),
        ("checkout", [("baggage", f"sandboxmesh-routing-key={KEY_2}")], "checkout-pr-2"),
        (
            "checkout",
            [("baggage", f"u=a , sandboxmesh-routing-key = {KEY_1} ;p;q=1, z=2")],
            "checkout-pr-1",
        ),
        (
            "checkout",
            [("baggage", "u=a;b=c"), ("baggage", f"sandboxmesh-routing-key={KEY_1}")],
            "checkout-pr-1",
        ),
        (
            "checkout",
            [("baggage", "sandboxmesh-routing-key=%6B%65%79%31" + KEY_1[4:])],
            "checkout-pr-1",
        ),
        ("checkout", [("baggage", f"u=a;sandboxmesh-routing-key={KEY_1}")], "checkout"),
        ("checkout", [("baggage", f"sandboxmesh-routing-key={KEY_1}x")], "checkout"),
        ("checkout", [("x-sandboxmesh-routing-key", KEY_3)], "checkout"),  # forks cart only
        ("checkout", [("baggage", f"sandboxmesh-routing-key={UNKNOWN}")], "checkout"),
        ("checkout", [("x-sandboxmesh-routing-key", UNKNOWN)], "checkout"),
        (
            "checkout",
            [("x-sandboxmesh-routing-key", KEY_1), ("baggage", f"sandboxmesh-routing-key={KEY_2}")],
            "checkout-pr-1",
        ),
        ("cart", [("baggage", f"sandboxmesh-routing-key={KEY_3}")], "cart-pr-3"),
        ("cart", [("x-sandboxmesh-routing-key", KEY_1)], "cart"),
        ("cart", [], "cart"),
    ]
    results = [
        (service, headers, plane.served_by(service, headers)) for service, headers, _ in cases
    ]
    assert results == cases


def test_envoy_and_the_python_matcher_agree_across_the_baggage_grammar(
    start_data_plane: StartDataPlane,
) -> None:
    """Generated baggage (several headers, properties, whitespace, percent-encoding) through
    Envoy: it picks the fork exactly when the reference reading of the grammar says so."""
    plane = start_data_plane(["checkout"], ["checkout-pr-1"])
    key = "abc123xyz0"
    plane.server.set_table(
        RouteTable(routes={shop("checkout"): (ForkRoute(key, "pr-1", shop("checkout-pr-1")),)})
    )
    eventually(
        lambda: (
            plane.served_by("checkout", [("x-sandboxmesh-routing-key", key)]) == "checkout-pr-1"
        ),
        timeout=5,
        what="the route live",
    )
    rng = random.Random(7)
    outcomes: Counter[bool] = Counter()
    pattern = matching.HeaderMatch(
        "baggage", matching.MatchKind.REGEX, matching.baggage_pattern(key)
    )
    for _ in range(600):
        values = baggage_cases.baggage_headers(rng, key)
        expected = baggage_cases.reference_carries(key, values)
        assert matching.request_matches(pattern, values) == expected
        # An HTTP field value has no leading or trailing whitespace (RFC 9110 §5.5).
        served = plane.served_by("checkout", [("baggage", v.strip(" \t")) for v in values])
        assert served == ("checkout-pr-1" if expected else "checkout"), values
        outcomes[expected] += 1
    assert outcomes[True] > 50
    assert outcomes[False] > 50


def test_route_changes_apply_without_dropping_a_request(start_data_plane: StartDataPlane) -> None:
    plane = start_data_plane(["checkout"], ["checkout-pr-1"])
    routed = RouteTable(
        routes={shop("checkout"): (ForkRoute(KEY_1, "pr-1", shop("checkout-pr-1")),)}
    )
    headers = [("baggage", f"sandboxmesh-routing-key={KEY_1}")]
    stop = threading.Event()
    seen: Counter[str] = Counter()
    failures: list[BaseException] = []

    def load() -> None:
        while not stop.is_set():
            try:
                seen[plane.served_by("checkout", headers)] += 1
            except BaseException as error:  # any failed request fails the test
                failures.append(error)
                return

    worker = threading.Thread(target=load)
    worker.start()
    try:
        for _ in range(5):
            plane.server.set_table(routed)
            eventually(lambda: seen["checkout-pr-1"] > 0, timeout=5, what="fork reached")
            assert "fork|shop|checkout-pr-1|80" in plane.envoy_clusters()
            plane.server.set_table(RouteTable())
            before = seen["checkout"]
            eventually(lambda b=before: seen["checkout"] > b + 3, timeout=5, what="baseline again")
            seen.clear()
    finally:
        stop.set()
        worker.join(timeout=10)
    assert failures == []
    # Withdrawn routes take their clusters with them, once Envoy no longer routes to them.
    eventually(
        lambda: "fork|shop|checkout-pr-1|80" not in plane.envoy_clusters(),
        timeout=5,
        what="the fork cluster removed",
    )


def test_a_rejected_update_is_logged_and_does_not_wedge_the_stream(
    start_data_plane: StartDataPlane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sandboxmesh.routing")
    # A listener address Envoy cannot parse: the route server renders it, Envoy refuses it.
    bad = Front(
        namespace="shop",
        service="broken",
        port=80,
        listen_address="999.0.0.1",
        listen_port=0,
        baseline_host="127.0.0.1",
        baseline_port=1,
    )
    plane = start_data_plane(["checkout"], ["checkout-pr-1"], bad_fronts=[bad])

    def nacks() -> float:
        def read(server: object) -> float:
            value = plane.server.server.metrics.xds_nacks.labels("listener")._value.get()
            return float(value)

        return plane.server.read(read)

    eventually(lambda: nacks() >= 1, timeout=20, what="Envoy's NACK of the listeners")
    assert any(
        "rejected listener" in r.getMessage() and "999.0.0.1" in r.getMessage()
        for r in caplog.records
    )
    # The stream goes on: a new fork's cluster still reaches Envoy.
    plane.server.set_table(
        RouteTable(routes={shop("checkout"): (ForkRoute(KEY_1, "pr-1", shop("checkout-pr-1")),)})
    )
    eventually(
        lambda: "fork|shop|checkout-pr-1|80" in plane.envoy_clusters(),
        timeout=5,
        what="the fork cluster pushed after the NACK",
    )
    assert nacks() == 1  # the refused listeners are not sent again and again
    nodes = plane.http("/v1/xds/nodes").json()["nodes"]
    assert nodes[0]["types"]["listener"]["rejectedVersion"] is not None


def test_a_local_process_can_be_mapped_to_a_fork_service_while_running(
    start_data_plane: StartDataPlane,
) -> None:
    """The demo's seam: fork processes start after the route exists, then get mapped."""
    plane = start_data_plane(["checkout"], [])
    headers = [("x-sandboxmesh-routing-key", KEY_1)]
    plane.server.set_table(
        RouteTable(routes={shop("checkout"): (ForkRoute(KEY_1, "pr-1", shop("checkout-late")),)})
    )
    # Unmapped, the fork is reached by its cluster DNS name, which a local run cannot resolve.
    eventually(
        lambda: "fork|shop|checkout-late|80" in plane.envoy_clusters(),
        timeout=5,
        what="the fork's cluster",
    )
    with http_backend("checkout-late") as port:
        plane.routing.map_service("shop", "checkout-late", 80, Address("127.0.0.1", port))
        eventually(
            lambda: plane.served_by("checkout", headers) == "checkout-late",
            timeout=5,
            what="the mapped fork reached",
        )
        plane.routing.unmap_service("shop", "checkout-late", 80)
        nodes = plane.http("/v1/xds/nodes").json()["nodes"]
        assert nodes[0]["types"]["cluster"]["rejectedVersion"] is None
    assert (
        plane.routing.port_of("shop", "checkout", 80)
        == plane.listener_ports[plane.fronts["checkout"].name]
    )


def test_a_restarted_route_server_withholds_its_empty_table_until_synced(
    start_data_plane: StartDataPlane, tmp_path: Path
) -> None:
    """Routers keep their routes while a new route server has not listed Sandboxes yet."""
    plane = start_data_plane(["checkout"], ["checkout-pr-1"])
    plane.server.set_table(TABLE)
    headers = [("baggage", f"sandboxmesh-routing-key={KEY_1}")]
    eventually(
        lambda: plane.served_by("checkout", headers) == "checkout-pr-1",
        timeout=5,
        what="routed",
    )
    xds_port = plane.server.xds_port
    plane.server.stop()
    # The new server's Kubernetes API never answers: it stays unsynced.
    kubeconfig = tmp_path / "unreachable.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "x"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    settings = RouteServerSettings(
        xds=Listen("127.0.0.1", xds_port), watch=True, kubeconfig=kubeconfig
    )
    with RouteServerThread(settings) as restarted:
        eventually(
            lambda: restarted.read(lambda s: len(s.ads.nodes)) == 1,
            timeout=15,
            what="Envoy reconnected to the new route server",
        )
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # something must NOT happen: the route's loss
            assert plane.served_by("checkout", headers) == "checkout-pr-1"
        assert restarted.read(lambda s: s.metrics.xds_responses.labels("route")._value.get()) == 0
