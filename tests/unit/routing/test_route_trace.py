"""Route traces, the pure part: reading trace context and keys, why a hop went where it
went, and the bounded buffer the route server keeps traces in."""

from __future__ import annotations

from sandboxmesh.routing.core import envoy_resources, trace
from sandboxmesh.routing.core.fronts import Front
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef
from sandboxmesh.routing.core.trace import Hop, Reason, TraceBuffer
from sandboxmesh.routing.core.upstreams import ServiceAddresses

CHECKOUT, CART = ServiceRef("shop", "checkout"), ServiceRef("shop", "cart")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_trace_ids_come_from_valid_traceparents_only() -> None:
    assert trace.trace_id(f"00-{TRACE}-00f067aa0ba902b7-01") == TRACE
    for bad in (None, "", f"ff-{TRACE}-00f067aa0ba902b7-01", f"00-{'0' * 32}-00f067aa0ba902b7-01",
                f"00-{TRACE.upper()}-00f067aa0ba902b7-01", f"00-{TRACE}", "garbage"):  # fmt: skip
        assert trace.trace_id(bad) is None, bad


def test_only_our_tracestate_member_marks_a_traced_request() -> None:
    assert trace.traced("sandboxmesh=1")
    assert trace.traced("congo=t61rcWkgMzE, sandboxmesh=abc ,rojo=00f067aa0ba902b7")
    for untraced in (None, "", "rojo=1", "vendor=sandboxmesh", "sandboxmeshx=1", "xsandboxmesh=1"):
        assert not trace.traced(untraced), untraced


def test_the_carried_key_is_read_as_routes_match_it_exact_headers_first() -> None:
    headers = KeyHeaders.with_extra(["x-tenant-route"])
    assert trace.carried_key({}, headers) is None
    assert (
        trace.carried_key({"baggage": "a=1, sandboxmesh-routing-key = k1;p=2,b=3"}, headers) == "k1"
    )
    assert trace.carried_key({"baggage": "a=1;sandboxmesh-routing-key=k1"}, headers) is None
    assert trace.carried_key(
        {"baggage": "sandboxmesh-routing-key=k1", "x-tenant-route": "k2"}, headers
    ) == "k2"  # fmt: skip


def test_why_a_hop_went_where_it_went() -> None:
    table = RouteTable(
        routes={CART: (ForkRoute("k3", "pr-3", ServiceRef("shop", "cart-pr-3")),)},
        pending={CHECKOUT: (ForkRoute("k4", "pr-4", ServiceRef("shop", "checkout-pr-4")),)},
    )
    assert trace.decide("pr-3|baggage", "k3", CART, table) == ("pr-3", Reason.KEY)
    assert trace.decide("baseline", None, CHECKOUT, table) == ("baseline", Reason.NO_KEY)
    assert trace.decide("baseline", "k4", CHECKOUT, table) == (
        "baseline", Reason.NOT_READY.format(sandbox="pr-4"))  # fmt: skip
    assert trace.decide("baseline", "k3", CHECKOUT, table) == (
        "baseline", Reason.NOT_FORKED.format(sandbox="pr-3"))  # fmt: skip
    assert trace.decide("baseline", "kx", CHECKOUT, table) == (
        "baseline", Reason.UNKNOWN_KEY.format(key="kx"))  # fmt: skip


def hop(at: float, service: ServiceRef, key: str | None, trace_id: str = TRACE) -> Hop:
    decision, reason = trace.decide("baseline", key, service, RouteTable())
    return Hop(trace_id, at, service, "router-1", decision, reason, key)


def test_hops_come_in_order_and_the_one_that_lost_the_key_names_its_caller() -> None:
    buffer = TraceBuffer()
    buffer.add(hop(2.0, CART, None), now=10)
    buffer.add(hop(1.0, CHECKOUT, "k1"), now=10)
    first, second = buffer.get(TRACE, now=10)
    assert (first.service, second.service) == (CHECKOUT, CART)
    assert second.reason == Reason.NOT_PROPAGATED.format(caller="shop/checkout")
    # Without a key anywhere before it, a hop without one simply had none.
    alone = TraceBuffer()
    alone.add(hop(1.0, CART, None), now=10)
    assert [h.reason for h in alone.get(TRACE, now=10)] == [Reason.NO_KEY]


def test_the_buffer_is_bounded_by_traces_age_and_hops_and_counts_what_it_drops() -> None:
    buffer = TraceBuffer(max_traces=2, max_age=60, max_hops=3)
    ids = [f"{i:032x}" for i in range(1, 4)]
    for i, trace_id in enumerate(ids):
        buffer.add(hop(i, CART, None, trace_id), now=100 + i)
    assert len(buffer) == 2
    assert buffer.get(ids[0], now=103) == []  # the oldest went for the newest
    assert buffer.dropped == 1
    for _ in range(4):
        buffer.add(hop(5, CART, None, ids[2]), now=104)
    assert len(buffer.get(ids[2], now=104)) == 3
    assert buffer.dropped == 1 + 2  # two hops over the per-trace bound
    assert buffer.get(ids[1], now=101 + 61) == []  # aged out
    assert len(buffer) == 1


def test_routers_log_only_traced_requests_and_not_at_all_with_traces_off() -> None:
    front = Front(namespace="shop", service="cart", port=80, listen_address="127.0.0.1",
                  listen_port=10080, baseline_host="cart-b", baseline_port=80)  # fmt: skip

    def access_logs(route_traces: bool) -> list[object]:
        node = envoy_resources.node_resources(
            [front], RouteTable(), ServiceAddresses(), route_traces=route_traces
        )
        (chain,) = node.listeners[front.name].filter_chains
        manager = envoy_resources.hcm_pb2.HttpConnectionManager()
        chain.filters[0].typed_config.Unpack(manager)
        return list(manager.access_log)

    (log,) = access_logs(True)
    assert log.filter.header_filter.header.name == "tracestate"
    assert log.filter.header_filter.header.string_match.safe_regex.regex == trace.TRACESTATE_PATTERN
    assert access_logs(False) == []
