"""Route traces with real Envoy: routers log traced requests to the route server over gRPC,
and the route server says, hop by hop, where each went and why."""

from __future__ import annotations

import secrets
from typing import Any

from tests.integration.routing.conftest import DataPlane, StartDataPlane
from tests.support.eventually import eventually

from sandboxmesh.routing.core import trace
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef

KEY_1 = "key1aaaaaaaaaa"
KEY_3 = "key3cccccccccc"
UNKNOWN = "key9zzzzzzzzzz"

TABLE = RouteTable(
    routes={
        ServiceRef("shop", "checkout"): (
            ForkRoute(KEY_1, "pr-1", ServiceRef("shop", "checkout-pr-1")),
        ),
        ServiceRef("shop", "cart"): (ForkRoute(KEY_3, "pr-3", ServiceRef("shop", "cart-pr-3")),),
    }
)


def traced(trace_id: str, **extra: str) -> list[tuple[str, str]]:
    headers = [
        ("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01"),
        ("tracestate", "vendor=1,sandboxmesh=1"),
    ]
    return headers + [(name.replace("_", "-"), value) for name, value in extra.items()]


def hops(plane: DataPlane, trace_id: str, count: int) -> list[dict[str, Any]]:
    def reported() -> list[dict[str, Any]] | None:
        response = plane.http(f"/v1/traces/{trace_id}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["hops"]
        return found if len(found) >= count else None

    found: list[dict[str, Any]] = eventually(reported, timeout=10, what=f"{count} hops")
    return [{k: hop[k] for k in ("service", "decision", "reason", "key")} for hop in found]


def test_a_trace_shows_each_hop_its_decision_and_the_hop_that_lost_the_key(
    start_data_plane: StartDataPlane,
) -> None:
    plane = start_data_plane(["checkout", "cart"], ["checkout-pr-1", "cart-pr-3"])
    plane.server.set_table(TABLE)
    eventually(
        lambda: (
            plane.served_by("checkout", [("x-sandboxmesh-routing-key", KEY_1)]) == "checkout-pr-1"
        ),
        timeout=5,
        what="the route live",
    )

    # checkout's router sends the key to pr-1; its workload then calls cart keeping the
    # trace context but not baggage (as a service without baggage propagation does).
    lost = secrets.token_hex(16)
    first = plane.served_by("checkout", traced(lost, baggage=f"sandboxmesh-routing-key={KEY_1}"))
    second = plane.served_by("cart", traced(lost))
    assert (first, second) == ("checkout-pr-1", "cart")
    assert hops(plane, lost, 2) == [
        {"service": "shop/checkout", "decision": "pr-1", "reason": trace.Reason.KEY,
         "key": KEY_1},
        {"service": "shop/cart", "decision": "baseline",
         "reason": trace.Reason.NOT_PROPAGATED.format(caller="shop/checkout"), "key": None},
    ]  # fmt: skip

    # Why a key reaches the baseline: nobody's, or a sandbox's that does not fork here.
    unknown, elsewhere, none = (secrets.token_hex(16) for _ in range(3))
    plane.served_by("checkout", traced(unknown, x_sandboxmesh_routing_key=UNKNOWN))
    plane.served_by("checkout", traced(elsewhere, x_sandboxmesh_routing_key=KEY_3))
    plane.served_by("checkout", traced(none))
    assert hops(plane, unknown, 1)[0]["reason"] == trace.Reason.UNKNOWN_KEY.format(key=UNKNOWN)
    assert hops(plane, elsewhere, 1)[0]["reason"] == trace.Reason.NOT_FORKED.format(sandbox="pr-3")
    assert hops(plane, none, 1) == [
        {"service": "shop/checkout", "decision": "baseline", "reason": trace.Reason.NO_KEY,
         "key": None},
    ]  # fmt: skip


def test_untraced_requests_are_not_logged_and_bad_trace_ids_are_refused(
    start_data_plane: StartDataPlane,
) -> None:
    plane = start_data_plane(["checkout"], [])
    plane.server.set_table(RouteTable())
    untraced, sentinel = secrets.token_hex(16), secrets.token_hex(16)
    # A traceparent alone (every traced application sends one) is not a route trace.
    plane.served_by("checkout", [("traceparent", f"00-{untraced}-{secrets.token_hex(8)}-01")])
    plane.served_by("checkout", [("traceparent", f"00-{untraced}-{secrets.token_hex(8)}-01"),
                                 ("tracestate", "vendor=sandboxmesh")])  # fmt: skip
    plane.served_by("checkout", traced(sentinel))
    # The same router's one log stream, in order: once the last request is in, so would
    # the two before it be.
    assert len(hops(plane, sentinel, 1)) == 1
    missing = plane.http(f"/v1/traces/{untraced}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "no_trace"
    for bad in ("nothex", "A" * 32, "0" * 31, "x" * 5000):
        refused = plane.http(f"/v1/traces/{bad}")
        assert refused.status_code == 400, bad
        assert refused.json()["code"] == "invalid_trace_id"
    metrics = plane.http("/metrics").text
    assert "sandboxmesh_trace_hops_total 1.0" in metrics
