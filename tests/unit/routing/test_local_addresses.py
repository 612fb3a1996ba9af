"""Local runs (demo, two-hop tests): addresses come from the map alone, never cluster DNS.

A fork without a mapped process gets no route; a mapped baseline Service replaces the
front's own baseline; a fork that loses its address loses its route (make before break).
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import discovery_pb2

from sandboxmesh.routing.core import envoy_resources
from sandboxmesh.routing.core.envoy_resources import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from sandboxmesh.routing.core.fronts import Front
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef
from sandboxmesh.routing.core.upstreams import Address, ServiceAddresses
from sandboxmesh.routing.xds.stream import StreamState

FRONT = Front(
    namespace="demo",
    service="checkout",
    port=80,
    listen_port=0,
    baseline_host="checkout.demo.svc.cluster.local",
    baseline_port=80,
)
FORK = ServiceRef("demo", "checkout-sbx-pr-1")
FORK_CLUSTER = envoy_resources.fork_cluster_name(FORK, 80)
BASELINE_CLUSTER = envoy_resources.baseline_cluster_name(FRONT)
ROUTED = RouteTable(routes={FRONT.baseline: (ForkRoute("abcdefghij12", "pr-1", FORK),)})


def local(**mapped: int) -> ServiceAddresses:
    """Local-run addresses: Service name -> port of its process on 127.0.0.1."""
    return ServiceAddresses(
        cluster_dns=False,
        overrides={
            (ServiceRef("demo", name.replace("_", "-")), 80): Address("127.0.0.1", port)
            for name, port in mapped.items()
        },
    )


def endpoint(cluster: cluster_pb2.Cluster) -> tuple[str, int]:
    address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address
    return address.socket_address.address, address.socket_address.port_value


def test_without_cluster_dns_an_unmapped_service_has_no_address() -> None:
    assert local().address(FORK, 80) is None
    assert local(checkout_sbx_pr_1=9001).address(FORK, 80) == Address("127.0.0.1", 9001)
    assert ServiceAddresses().address(FORK, 80) == Address(
        "checkout-sbx-pr-1.demo.svc.cluster.local", 80
    )


def test_an_unmapped_fork_gets_no_cluster_and_a_mapped_baseline_replaces_the_front() -> None:
    clusters = envoy_resources.front_clusters(FRONT, ROUTED, local(checkout=9000))
    assert set(clusters) == {BASELINE_CLUSTER}
    assert endpoint(clusters[BASELINE_CLUSTER]) == ("127.0.0.1", 9000)

    clusters = envoy_resources.front_clusters(FRONT, ROUTED, local(checkout_sbx_pr_1=9001))
    assert set(clusters) == {BASELINE_CLUSTER, FORK_CLUSTER}
    # Not mapped: the front's own baseline (here the Service's DNS name, as a router has it).
    assert endpoint(clusters[BASELINE_CLUSTER]) == ("checkout.demo.svc.cluster.local", 80)
    assert endpoint(clusters[FORK_CLUSTER]) == ("127.0.0.1", 9001)


class Envoy:
    """Plays Envoy on one stream: subscribes to everything and acknowledges each response."""

    def __init__(self) -> None:
        self.stream = StreamState([FRONT])
        for type_url in (CLUSTER_TYPE, LISTENER_TYPE):
            self.stream.on_request(discovery_pb2.DiscoveryRequest(type_url=type_url))

    def settle(self, addresses: ServiceAddresses) -> list[str]:
        """Acknowledge everything due; the types sent, in order."""
        sent = []
        while True:
            desired = self.stream.desired(ROUTED, KeyHeaders(), addresses)
            response = self.stream.next_response(desired)
            if response is None:
                return sent
            sent.append(response.type_url)
            self.stream.on_request(
                discovery_pb2.DiscoveryRequest(
                    type_url=response.type_url,
                    response_nonce=response.nonce,
                    version_info=response.version_info,
                    resource_names=[FRONT.name] if response.type_url == ROUTE_TYPE else [],
                )
            )
            if response.type_url == LISTENER_TYPE:
                # The listener makes Envoy ask for its routes by name.
                self.stream.on_request(
                    discovery_pb2.DiscoveryRequest(type_url=ROUTE_TYPE, resource_names=[FRONT.name])
                )

    def routed_clusters(self) -> set[str]:
        config = self.stream.types[ROUTE_TYPE].acked_resources[FRONT.name]
        assert isinstance(config, route_pb2.RouteConfiguration)
        return envoy_resources.route_clusters(config)

    def clusters(self) -> set[str]:
        return set(self.stream.types[CLUSTER_TYPE].acked_resources)


def test_a_fork_route_lives_exactly_while_the_fork_is_mapped() -> None:
    envoy = Envoy()
    envoy.settle(local(checkout=9000))
    assert envoy.routed_clusters() == {BASELINE_CLUSTER}

    # Mapped: its cluster is acknowledged before a route names it.
    assert envoy.settle(local(checkout=9000, checkout_sbx_pr_1=9001)) == [
        CLUSTER_TYPE,
        ROUTE_TYPE,
    ]
    assert envoy.clusters() == {BASELINE_CLUSTER, FORK_CLUSTER}
    assert envoy.routed_clusters() == {FORK_CLUSTER, BASELINE_CLUSTER}

    # Unmapped: the route goes first, the cluster only once no acknowledged route names it.
    assert envoy.settle(local(checkout=9000)) == [ROUTE_TYPE, CLUSTER_TYPE]
    assert envoy.routed_clusters() == {BASELINE_CLUSTER}
    assert envoy.clusters() == {BASELINE_CLUSTER}
