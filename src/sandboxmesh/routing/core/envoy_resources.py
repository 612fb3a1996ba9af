"""Envoy's listeners, routes and clusters for one node, rendered from fronts and the route table.

Pure: protobuf messages in, protobuf messages out. For each front (baseline Service port):

- a listener on the front's address whose HTTP connection manager takes its routes over ADS
  and logs traced requests (route traces, core/trace.py) to the route server over gRPC;
- a route configuration: one route per (fork, key header) sending requests that carry the key
  to the fork's cluster, then a catch-all to the baseline's cluster (no key, unknown keys,
  keys of sandboxes forking something else);
- a cluster for the baseline and one per fork Service routed from the front.

Routes reference only clusters the node already has (`usable`): the xDS stream passes the
clusters Envoy has acknowledged, so a new fork's route never points at a missing cluster,
and a removed fork's cluster leaves only once no acknowledged route names it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, config_source_pb2, grpc_service_pb2, protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.access_loggers.grpc.v3 import als_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from google.protobuf import any_pb2, duration_pb2, wrappers_pb2

from sandboxmesh.routing.core import matching, trace
from sandboxmesh.routing.core.bootstrap import XDS_CLUSTER
from sandboxmesh.routing.core.fronts import Front
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef
from sandboxmesh.routing.core.upstreams import Address, ServiceAddresses

LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
CONNECT_TIMEOUT_SECONDS = 2


def baseline_cluster_name(front: Front) -> str:
    return f"baseline|{front.namespace}|{front.service}|{front.port}"


def fork_cluster_name(fork: ServiceRef, port: int) -> str:
    return f"fork|{fork.namespace}|{fork.name}|{port}"


def pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _socket(host: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=host, port_value=port)
    )


@functools.lru_cache(maxsize=65536)
def cluster(name: str, address: Address) -> cluster_pb2.Cluster:
    """A cluster of one address: STATIC for an IP, STRICT_DNS for a name (a Service's DNS
    name resolves to its ClusterIP, which balances over the Service's Pods).

    Cached (the route server renders every cluster on each change of the table): the message
    is shared, and no caller changes it."""
    kind = cluster_pb2.Cluster.STATIC if address.is_ip else cluster_pb2.Cluster.STRICT_DNS
    endpoint = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(address=_socket(address.host, address.port))
    )
    # Upstream speaks what the client spoke (HTTP/1.1 or h2c, so gRPC passes through).
    protocol = http_protocol_options_pb2.HttpProtocolOptions(
        use_downstream_protocol_config=http_protocol_options_pb2.HttpProtocolOptions.UseDownstreamHttpConfig(
            http_protocol_options=protocol_pb2.Http1ProtocolOptions(),
            http2_protocol_options=protocol_pb2.Http2ProtocolOptions(),
        )
    )
    return cluster_pb2.Cluster(
        name=name,
        type=kind,
        connect_timeout=duration_pb2.Duration(seconds=CONNECT_TIMEOUT_SECONDS),
        dns_lookup_family=cluster_pb2.Cluster.V4_PREFERRED,
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[endpoint])],
        ),
        typed_extension_protocol_options={_HTTP_PROTOCOL_OPTIONS: pack(protocol)},
    )


def trace_log(log_name: str, headers: matching.KeyHeaders) -> accesslog_pb2.AccessLog:
    """The access log of traced requests: only those whose `tracestate` holds our member
    (the filter is all an untraced request costs), to the route server's gRPC access-log
    service on the xDS cluster, with the headers that say which key the request carried."""
    config = als_pb2.HttpGrpcAccessLogConfig(
        common_config=als_pb2.CommonGrpcAccessLogConfig(
            log_name=log_name,
            grpc_service=grpc_service_pb2.GrpcService(
                envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=XDS_CLUSTER)
            ),
            transport_api_version=config_source_pb2.V3,
            # A trace waits for its hops: send them within 0.1 s rather than Envoy's 1 s.
            buffer_flush_interval=duration_pb2.Duration(nanos=100_000_000),
        ),
        additional_request_headers_to_log=[
            trace.TRACEPARENT_HEADER,
            trace.TRACESTATE_HEADER,
            *headers.exact_headers,
            headers.baggage_header,
        ],
    )
    only_traced = accesslog_pb2.AccessLogFilter(
        header_filter=accesslog_pb2.HeaderFilter(
            header=route_components_pb2.HeaderMatcher(
                name=trace.TRACESTATE_HEADER,
                string_match=string_pb2.StringMatcher(
                    safe_regex=regex_pb2.RegexMatcher(regex=trace.TRACESTATE_PATTERN)
                ),
            )
        )
    )
    return accesslog_pb2.AccessLog(
        name="envoy.access_loggers.http_grpc", filter=only_traced, typed_config=pack(config)
    )


def listener(
    front: Front, headers: matching.KeyHeaders | None = None, *, route_traces: bool = True
) -> listener_pb2.Listener:
    """The front's listener; its routes come over ADS under the front's name."""
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=f"{front.namespace}_{front.service}_{front.port}",
        codec_type=hcm_pb2.HttpConnectionManager.AUTO,
        rds=hcm_pb2.Rds(
            route_config_name=front.name,
            config_source=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource(),
                resource_api_version=config_source_pb2.V3,
                # Wait for routes however long it takes: serving without them would answer
                # the baseline's own traffic with 404s.
                initial_fetch_timeout=duration_pb2.Duration(seconds=0),
            ),
        ),
        http_filters=[
            hcm_pb2.HttpFilter(
                name="envoy.filters.http.router", typed_config=pack(router_pb2.Router())
            )
        ],
        access_log=[trace_log(front.name, headers or matching.KeyHeaders())]
        if route_traces
        else [],
    )
    return listener_pb2.Listener(
        name=front.name,
        address=_socket(front.listen_address, front.listen_port),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=pack(manager),
                    )
                ]
            )
        ],
    )


def _header_matcher(match: matching.HeaderMatch) -> route_components_pb2.HeaderMatcher:
    if match.kind is matching.MatchKind.EXACT:
        string_match = string_pb2.StringMatcher(exact=match.value)
    else:
        string_match = string_pb2.StringMatcher(
            safe_regex=regex_pb2.RegexMatcher(regex=match.value)
        )
    return route_components_pb2.HeaderMatcher(name=match.name, string_match=string_match)


#: A fork's route goes live when its Sandbox turns Ready, and its Service's ClusterIP may
#: still refuse connections for a while: kube-proxy programs the new endpoint after the
#: EndpointSlice changes (measured on the real node, a one-node cluster on a VM: 0.1-1 s).
#: A refused connection sent nothing, so trying again is safe; about 3 s of retries (20, at
#: most 250 ms apart) cover it, and a fork that refuses for longer answers 503.
FORK_RETRY = route_components_pb2.RetryPolicy(
    retry_on="connect-failure",
    num_retries=wrappers_pb2.UInt32Value(value=20),
    retry_back_off=route_components_pb2.RetryPolicy.RetryBackOff(
        base_interval=duration_pb2.Duration(nanos=50_000_000),
        max_interval=duration_pb2.Duration(nanos=250_000_000),
    ),
)


def _route(
    name: str,
    cluster_name: str,
    headers: list[route_components_pb2.HeaderMatcher],
    retry: route_components_pb2.RetryPolicy | None = None,
) -> route_components_pb2.Route:
    return route_components_pb2.Route(
        name=name,
        match=route_components_pb2.RouteMatch(prefix="/", headers=headers),
        # No timeout and no retry of the router's own on the baseline: it must not change how
        # the baseline behaves.
        route=route_components_pb2.RouteAction(
            cluster=cluster_name, timeout=duration_pb2.Duration(seconds=0), retry_policy=retry
        ),
    )


def route_name(route: ForkRoute, header: str) -> str:
    """`sandbox|header`, then `|group` for a route group's key: route traces read the
    decision (the sandbox) and the group back from it (trace.decide)."""
    name = f"{route.sandbox}|{header}"
    return name if route.group is None else f"{name}|{route.group}"


def route_configuration(
    front: Front,
    routes: Iterable[ForkRoute],
    headers: matching.KeyHeaders,
    usable: Callable[[str], bool],
) -> route_pb2.RouteConfiguration:
    """The front's routes: key matches (exact headers first, then baggage), then the baseline."""
    forks = [r for r in routes if usable(fork_cluster_name(r.fork, front.port))]
    matches = {r.key: matching.header_matches(r.key, headers) for r in forks}
    envoy_routes = []
    for kind in (matching.MatchKind.EXACT, matching.MatchKind.REGEX):
        for fork_route in forks:
            for match in matches[fork_route.key]:
                if match.kind is kind:
                    envoy_routes.append(
                        _route(
                            route_name(fork_route, match.name),
                            fork_cluster_name(fork_route.fork, front.port),
                            [_header_matcher(match)],
                            FORK_RETRY,
                        )
                    )
    envoy_routes.append(_route("baseline", baseline_cluster_name(front), []))
    return route_pb2.RouteConfiguration(
        name=front.name,
        virtual_hosts=[
            route_components_pb2.VirtualHost(name=front.name, domains=["*"], routes=envoy_routes)
        ],
    )


def front_clusters(
    front: Front, table: RouteTable, addresses: ServiceAddresses
) -> dict[str, cluster_pb2.Cluster]:
    """The clusters one front needs: its baseline and each fork routed from it, or about to
    be (pending), that has an address. An override of the baseline Service's own port (local
    runs, where the baseline is a process that may restart elsewhere) takes the place of the
    front's baseline."""
    baseline = addresses.overrides.get((front.baseline, front.port)) or Address(
        front.baseline_host, front.baseline_port
    )
    clusters = {baseline_cluster_name(front): cluster(baseline_cluster_name(front), baseline)}
    # Forks not ready yet too: their clusters are in place when their routes come.
    for fork_route in (*table.routes_for(front.baseline), *table.pending_for(front.baseline)):
        name = fork_cluster_name(fork_route.fork, front.port)
        # The fork Service has the baseline Service's ports, so the front's port reaches it.
        address = addresses.address(fork_route.fork, front.port)
        if address is not None:
            clusters[name] = cluster(name, address)
    return clusters


@dataclass(frozen=True)
class NodeResources:
    """The listeners and clusters one Envoy node should have, by resource name."""

    listeners: dict[str, listener_pb2.Listener]
    clusters: dict[str, cluster_pb2.Cluster]


def node_resources(
    fronts: list[Front],
    table: RouteTable,
    addresses: ServiceAddresses,
    headers: matching.KeyHeaders | None = None,
    *,
    route_traces: bool = True,
) -> NodeResources:
    clusters: dict[str, cluster_pb2.Cluster] = {}
    for front in fronts:
        clusters.update(front_clusters(front, table, addresses))
    return NodeResources(
        listeners={
            front.name: listener(front, headers, route_traces=route_traces) for front in fronts
        },
        clusters=clusters,
    )


def route_configurations(
    fronts: list[Front],
    table: RouteTable,
    headers: matching.KeyHeaders,
    usable: Callable[[str], bool],
) -> dict[str, route_pb2.RouteConfiguration]:
    """Each front's route configuration, by name, routing only to `usable` fork clusters."""
    return {
        front.name: route_configuration(front, table.routes_for(front.baseline), headers, usable)
        for front in fronts
    }
