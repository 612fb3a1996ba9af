"""The ADS stream's decisions, driven by hand-made requests: ordering, ACK, NACK, stale nonces."""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.rpc import status_pb2

from sandboxmesh.routing.core import envoy_resources
from sandboxmesh.routing.core.envoy_resources import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from sandboxmesh.routing.core.fronts import Front
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef
from sandboxmesh.routing.core.upstreams import ServiceAddresses
from sandboxmesh.routing.xds.stream import RequestOutcome, StreamState

FRONT = Front(
    namespace="shop",
    service="checkout",
    port=80,
    listen_port=15080,
    baseline_host="127.0.0.1",
    baseline_port=8080,
)
FORK = ServiceRef("shop", "checkout-pr-1")
FORK_CLUSTER = envoy_resources.fork_cluster_name(FORK, 80)
EMPTY = RouteTable()
ROUTED = RouteTable(routes={FRONT.baseline: (ForkRoute("abcdefghij12", "pr-1", FORK),)})


def request(
    type_url: str,
    nonce: str = "",
    *,
    names: tuple[str, ...] = (),
    version: str = "",
    error: str | None = None,
) -> discovery_pb2.DiscoveryRequest:
    message = discovery_pb2.DiscoveryRequest(
        type_url=type_url, response_nonce=nonce, resource_names=list(names), version_info=version
    )
    if error is not None:
        message.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
    return message


class Driver:
    """Plays Envoy: subscribes, and answers each response with an ACK or a NACK."""

    def __init__(self) -> None:
        self.stream = StreamState([FRONT])
        self.sent: list[discovery_pb2.DiscoveryResponse] = []

    def next(self, table: RouteTable) -> discovery_pb2.DiscoveryResponse | None:
        desired = self.stream.desired(table, KeyHeaders(), ServiceAddresses())
        response = self.stream.next_response(desired)
        if response is not None:
            self.sent.append(response)
        return response

    def ack(self, response: discovery_pb2.DiscoveryResponse, **kwargs: Any) -> RequestOutcome:
        return self.stream.on_request(
            request(response.type_url, response.nonce, version=response.version_info, **kwargs)
        ).kind

    def settle(self, table: RouteTable) -> list[str]:
        """ACK everything until nothing is due; the type of each response, in order."""
        kinds = []
        while (response := self.next(table)) is not None:
            kinds.append(response.type_url)
            self.ack(response, names=(FRONT.name,) if response.type_url == ROUTE_TYPE else ())
        return kinds


def unpack_clusters(response: discovery_pb2.DiscoveryResponse) -> list[str]:
    names = []
    for packed in response.resources:
        message = cluster_pb2.Cluster()
        packed.Unpack(message)
        names.append(message.name)
    return names


def route_clusters(response: discovery_pb2.DiscoveryResponse) -> set[str]:
    (packed,) = response.resources
    config = route_pb2.RouteConfiguration()
    packed.Unpack(config)
    return envoy_resources.route_clusters(config)


def subscribed() -> Driver:
    driver = Driver()
    for type_url in (CLUSTER_TYPE, LISTENER_TYPE):
        assert driver.stream.on_request(request(type_url)).kind is RequestOutcome.SUBSCRIBE
    assert driver.settle(EMPTY) == [CLUSTER_TYPE, LISTENER_TYPE]
    # The listener makes Envoy ask for its routes by name.
    driver.stream.on_request(request(ROUTE_TYPE, names=(FRONT.name,)))
    assert driver.settle(EMPTY) == [ROUTE_TYPE]
    return driver


def test_nothing_is_sent_before_envoy_subscribes_and_one_response_is_in_flight() -> None:
    driver = Driver()
    assert driver.next(EMPTY) is None
    driver.stream.on_request(request(CLUSTER_TYPE))
    driver.stream.on_request(request(LISTENER_TYPE))
    first = driver.next(EMPTY)
    assert first is not None
    assert first.type_url == CLUSTER_TYPE
    assert driver.next(EMPTY) is None  # waits for the ACK before the listener
    driver.ack(first)
    second = driver.next(EMPTY)
    assert second is not None
    assert second.type_url == LISTENER_TYPE


def test_a_new_fork_gets_its_cluster_acked_before_any_route_names_it() -> None:
    driver = subscribed()
    cds = driver.next(ROUTED)
    assert cds is not None
    assert cds.type_url == CLUSTER_TYPE
    assert FORK_CLUSTER in unpack_clusters(cds)
    assert driver.next(ROUTED) is None  # the route waits for the cluster's ACK
    driver.ack(cds)
    rds = driver.next(ROUTED)
    assert rds is not None
    assert rds.type_url == ROUTE_TYPE
    assert route_clusters(rds) == {FORK_CLUSTER, envoy_resources.baseline_cluster_name(FRONT)}


def test_a_fork_not_ready_yet_gets_its_cluster_so_readiness_needs_only_its_route() -> None:
    driver = subscribed()
    pending = RouteTable(pending={FRONT.baseline: (ForkRoute("abcdefghij12", "pr-1", FORK),)})
    assert driver.settle(pending) == [CLUSTER_TYPE]  # the cluster, and no route to it
    cds = driver.sent[-1]
    assert FORK_CLUSTER in unpack_clusters(cds)
    rds = next(r for r in reversed(driver.sent) if r.type_url == ROUTE_TYPE)
    assert FORK_CLUSTER not in route_clusters(rds)
    # Ready: its cluster is acknowledged already, so the route goes out at once, alone.
    assert driver.settle(ROUTED) == [ROUTE_TYPE]
    assert FORK_CLUSTER in route_clusters(driver.sent[-1])


def test_a_removed_fork_loses_its_route_before_its_cluster() -> None:
    driver = subscribed()
    driver.settle(ROUTED)
    rds = driver.next(EMPTY)
    assert rds is not None
    assert rds.type_url == ROUTE_TYPE
    assert FORK_CLUSTER not in route_clusters(rds)
    driver.ack(rds, names=(FRONT.name,))
    cds = driver.next(EMPTY)
    assert cds is not None
    assert cds.type_url == CLUSTER_TYPE
    assert FORK_CLUSTER not in unpack_clusters(cds)


def test_a_nacked_cluster_update_keeps_routes_off_it_and_is_not_resent() -> None:
    driver = subscribed()
    cds = driver.next(ROUTED)
    assert cds is not None
    assert driver.ack(cds, error="bad cluster") is RequestOutcome.NACK
    # The stream is not wedged: nothing is resent, and no route points at the refused cluster.
    assert driver.next(ROUTED) is None
    assert driver.stream.types[CLUSTER_TYPE].rejected_version == cds.version_info
    # A later change is sent as usual.
    assert driver.settle(EMPTY) == []
    fork_2 = ServiceRef("shop", "checkout-pr-2")
    other = RouteTable(routes={FRONT.baseline: (ForkRoute("zzzzzzzzzz99", "pr-2", fork_2),)})
    assert driver.settle(other) == [CLUSTER_TYPE, ROUTE_TYPE]


def test_a_nacked_route_update_is_not_resent_but_the_next_change_is() -> None:
    driver = subscribed()
    cds = driver.next(ROUTED)
    assert cds is not None
    driver.ack(cds)
    rds = driver.next(ROUTED)
    assert rds is not None
    assert driver.ack(rds, names=(FRONT.name,), error="regex too big") is RequestOutcome.NACK
    assert driver.next(ROUTED) is None
    # Withdrawing the fork: Envoy kept its old routes, so only the cluster goes.
    assert driver.settle(EMPTY) == [CLUSTER_TYPE]


def test_a_stale_nonce_is_ignored() -> None:
    driver = subscribed()
    cds = driver.next(ROUTED)
    assert cds is not None
    outcome = driver.stream.on_request(request(CLUSTER_TYPE, "1", version="old"))
    assert outcome.kind is RequestOutcome.STALE
    assert driver.stream.types[CLUSTER_TYPE].pending
    assert driver.stream.on_request(request("type.googleapis.com/x.Y")).kind is (
        RequestOutcome.UNKNOWN_TYPE
    )


def test_routes_are_sent_only_for_the_names_envoy_asked_for() -> None:
    driver = Driver()
    driver.stream.on_request(request(ROUTE_TYPE, names=("front|other|svc|1",)))
    response = driver.next(EMPTY)
    assert response is not None
    assert list(response.resources) == []
