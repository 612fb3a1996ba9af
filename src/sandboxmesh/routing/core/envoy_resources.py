"""Envoy's listeners, routes and clusters for one node, rendered from fronts and the route table.

Pure: protobuf messages in, protobuf messages out. For each front (baseline Service port):

- a listener on the front's address whose HTTP connection manager takes its routes over ADS
  and logs traced requests (route traces, core/trace.py) to the route server over gRPC;
- a route configuration whose virtual host is a match tree: a lookup of each exact key header
  among the forks' keys, then, for baggage, a lookup of the member's value that three filters
  of the listener read before the route is picked again (`baggage_key_filters`), the per-key
  patterns in table order only for baggage that needs them (matching.baggage_needs_patterns),
  and the baseline's cluster for everything else (no key, unknown keys, keys of sandboxes
  forking something else). A request with no key costs two lookups and no pattern, whatever
  the number of forks;
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
from envoy.config.common.mutation_rules.v3 import mutation_rules_pb2
from envoy.config.core.v3 import (
    address_pb2,
    base_pb2,
    config_source_pb2,
    grpc_service_pb2,
    protocol_pb2,
)
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.access_loggers.grpc.v3 import als_pb2
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2
from envoy.extensions.filters.http.header_to_metadata.v3 import header_to_metadata_pb2
from envoy.extensions.filters.http.ip_tagging.v3 import ip_tagging_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.matcher.v3 import http_inputs_pb2, regex_pb2, string_pb2
from google.protobuf import any_pb2, duration_pb2, wrappers_pb2
from xds.core.v3 import extension_pb2 as xds_extension_pb2
from xds.type.matcher.v3 import matcher_pb2 as xds_matcher_pb2
from xds.type.matcher.v3 import regex_pb2 as xds_regex_pb2
from xds.type.matcher.v3 import string_pb2 as xds_string_pb2

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


#: The listener's filters that read the baggage member's value into
#: matching.BAGGAGE_KEY_HEADER for the route lookup. Envoy picks a route before any filter
#: runs, so the last of them makes it pick again: of Envoy's filters without a script or an
#: external service, ip_tagging is one that clears the route cache, and a tag for every
#: address makes it do so for every request it sees. Routes that need no second look
#: (`_NO_BAGGAGE_READ`) leave the three out of the request's filter chain altogether.
BAGGAGE_READ_FILTER = "sandboxmesh.read"
BAGGAGE_HEADER_FILTER = "sandboxmesh.copy"
REROUTE_FILTER = "sandboxmesh.reroute"
_BAGGAGE_KEY_FILTERS = (BAGGAGE_READ_FILTER, BAGGAGE_HEADER_FILTER, REROUTE_FILTER)
_METADATA_NAMESPACE = "sandboxmesh"
_METADATA_KEY = "baggage_key"
#: The tag header ip_tagging writes (a client's own is removed first): present, it marks
#: Envoy's second pick. Like matching.BAGGAGE_KEY_HEADER, never forwarded.
REROUTE_HEADER = "x-sandboxmesh-reroute"
REROUTE_TAG = "reroute"


def baggage_key_filters(headers: matching.KeyHeaders) -> list[hcm_pb2.HttpFilter]:
    """Read the baggage member's value (verbatim, or empty) into dynamic metadata, copy it
    into matching.BAGGAGE_KEY_HEADER (replacing whatever the client sent there), and have
    Envoy pick the route again."""
    read = header_to_metadata_pb2.Config(
        request_rules=[
            header_to_metadata_pb2.Config.Rule(
                header=headers.baggage_header,
                on_header_present=header_to_metadata_pb2.Config.KeyValuePair(
                    metadata_namespace=_METADATA_NAMESPACE,
                    key=_METADATA_KEY,
                    type=header_to_metadata_pb2.Config.STRING,
                    regex_value_rewrite=regex_pb2.RegexMatchAndSubstitute(
                        pattern=regex_pb2.RegexMatcher(
                            regex=matching.baggage_key_pattern(headers.baggage_member)
                        ),
                        substitution="\\1",
                    ),
                ),
            )
        ]
    )
    copy = header_mutation_pb2.HeaderMutation(
        mutations=header_mutation_pb2.Mutations(
            request_mutations=[
                mutation_rules_pb2.HeaderMutation(remove=matching.BAGGAGE_KEY_HEADER),
                mutation_rules_pb2.HeaderMutation(
                    append=base_pb2.HeaderValueOption(
                        header=base_pb2.HeaderValue(
                            key=matching.BAGGAGE_KEY_HEADER,
                            value=f"%DYNAMIC_METADATA({_METADATA_NAMESPACE}:{_METADATA_KEY})%",
                        ),
                        append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
                    )
                ),
            ]
        )
    )
    every_address = [
        # Prefixes to tag, not addresses to bind.
        address_pb2.CidrRange(address_prefix="0.0.0.0", prefix_len=wrappers_pb2.UInt32Value()),  # noqa: S104
        address_pb2.CidrRange(address_prefix="::", prefix_len=wrappers_pb2.UInt32Value()),
    ]
    reroute = ip_tagging_pb2.IPTagging(
        request_type=ip_tagging_pb2.IPTagging.BOTH,
        ip_tags=[ip_tagging_pb2.IPTagging.IPTag(ip_tag_name=REROUTE_TAG, ip_list=every_address)],
        ip_tag_header=ip_tagging_pb2.IPTagging.IpTagHeader(
            header=REROUTE_HEADER, action=ip_tagging_pb2.IPTagging.IpTagHeader.SANITIZE
        ),
    )
    return [
        hcm_pb2.HttpFilter(name=BAGGAGE_READ_FILTER, typed_config=pack(read)),
        hcm_pb2.HttpFilter(name=BAGGAGE_HEADER_FILTER, typed_config=pack(copy)),
        hcm_pb2.HttpFilter(name=REROUTE_FILTER, typed_config=pack(reroute)),
    ]


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
            *baggage_key_filters(headers or matching.KeyHeaders()),
            hcm_pb2.HttpFilter(
                name="envoy.filters.http.router", typed_config=pack(router_pb2.Router())
            ),
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


#: On a route, the baggage-reading filters are left out of the request's filter chain.
_NO_BAGGAGE_READ = {
    name: pack(route_components_pb2.FilterConfig(disabled=True)) for name in _BAGGAGE_KEY_FILTERS
}


def _route(
    name: str,
    cluster_name: str,
    headers: list[route_components_pb2.HeaderMatcher],
    retry: route_components_pb2.RetryPolicy | None = None,
    *,
    reads_baggage: bool = False,
) -> route_components_pb2.Route:
    return route_components_pb2.Route(
        name=name,
        match=route_components_pb2.RouteMatch(prefix="/", headers=headers),
        # No timeout and no retry of the router's own on the baseline: it must not change how
        # the baseline behaves.
        route=route_components_pb2.RouteAction(
            cluster=cluster_name, timeout=duration_pb2.Duration(seconds=0), retry_policy=retry
        ),
        typed_per_filter_config={} if reads_baggage else _NO_BAGGAGE_READ,
    )


def route_name(route: ForkRoute, header: str) -> str:
    """`sandbox|header`, then `|group` for a route group's key: route traces read the
    decision (the sandbox) and the group back from it (trace.decide)."""
    name = f"{route.sandbox}|{header}"
    return name if route.group is None else f"{name}|{route.group}"


def _typed(name: str, message: Any) -> xds_extension_pb2.TypedExtensionConfig:
    return xds_extension_pb2.TypedExtensionConfig(name=name, typed_config=pack(message))


def _header_input(header: str) -> xds_extension_pb2.TypedExtensionConfig:
    return _typed(header, http_inputs_pb2.HttpRequestHeaderMatchInput(header_name=header))


def _take(route: route_components_pb2.Route) -> xds_matcher_pb2.Matcher.OnMatch:
    return xds_matcher_pb2.Matcher.OnMatch(action=_typed("route", route))


def _lookup(
    header: str,
    routes: dict[str, route_components_pb2.Route],
    otherwise: xds_matcher_pb2.Matcher.OnMatch,
) -> xds_matcher_pb2.Matcher:
    """The route of the key that is the whole value of `header` (repeated headers are joined
    with `,`, so they match no key), else `otherwise`."""
    return xds_matcher_pb2.Matcher(
        matcher_tree=xds_matcher_pb2.Matcher.MatcherTree(
            input=_header_input(header),
            exact_match_map=xds_matcher_pb2.Matcher.MatcherTree.MatchMap(
                map={key: _take(route) for key, route in routes.items()}
            ),
        ),
        on_no_match=otherwise,
    )


def _header_is(
    header: str, *, regex: str | None = None, exact: str | None = None
) -> xds_matcher_pb2.Matcher.MatcherList.Predicate:
    value = (
        xds_string_pb2.StringMatcher(exact=exact)
        if exact is not None
        else xds_string_pb2.StringMatcher(
            safe_regex=xds_regex_pb2.RegexMatcher(
                google_re2=xds_regex_pb2.RegexMatcher.GoogleRE2(), regex=regex
            )
        )
    )
    return xds_matcher_pb2.Matcher.MatcherList.Predicate(
        single_predicate=xds_matcher_pb2.Matcher.MatcherList.Predicate.SinglePredicate(
            input=_header_input(header), value_match=value
        )
    )


def route_configuration(
    front: Front,
    routes: Iterable[ForkRoute],
    headers: matching.KeyHeaders,
    usable: Callable[[str], bool],
) -> route_pb2.RouteConfiguration:
    """The front's routes: key lookups (exact headers first, in their order, then baggage),
    then the baseline. Where a key appears twice, the first route in table order keeps it."""
    forks = [r for r in routes if usable(fork_cluster_name(r.fork, front.port))]
    baseline = _route("baseline", baseline_cluster_name(front), [])
    host = route_components_pb2.VirtualHost(
        name=front.name,
        domains=["*"],
        # Ours alone: read by the route lookup, never forwarded.
        request_headers_to_remove=[matching.BAGGAGE_KEY_HEADER, REROUTE_HEADER],
    )
    if not forks:
        host.routes.append(baseline)
        return route_pb2.RouteConfiguration(name=front.name, virtual_hosts=[host])

    def fork(fork_route: ForkRoute, header: str, **kwargs: Any) -> route_components_pb2.Route:
        cluster_name = fork_cluster_name(fork_route.fork, front.port)
        return _route(route_name(fork_route, header), cluster_name, retry=FORK_RETRY, **kwargs)

    baggage = headers.baggage_header
    # Baggage a single read cannot judge: each key's pattern, in table order (as before).
    by_pattern = route_components_pb2.RouteList(
        routes=[
            fork(
                r,
                baggage,
                headers=[
                    _header_matcher(
                        matching.HeaderMatch(
                            baggage,
                            matching.MatchKind.REGEX,
                            matching.baggage_pattern(r.key, headers.baggage_member),
                        )
                    )
                ],
                # Reached only on a second pick (or a client's imitation of one, which the
                # filters then correct): filters already in the chain, nothing to turn off.
                reads_baggage=True,
            )
            for r in forks
        ]
        + [baseline]
    )
    # Otherwise the value the filters read, looked up. The filters run between Envoy's two
    # picks, and the second pick alone (the reroute tag present) looks at what they wrote.
    # Whatever a client sends in either header, the routes here keep the filters, which
    # replace both and have the route picked again: no decision rests on a client's value.
    reads = _route("baseline", baseline_cluster_name(front), [], reads_baggage=True)
    by_value: dict[str, route_components_pb2.Route] = {}
    for r in forks:
        by_value.setdefault(r.key, fork(r, baggage, headers=[], reads_baggage=True))
    member = headers.baggage_member
    second_pick = xds_matcher_pb2.Matcher(
        matcher_list=xds_matcher_pb2.Matcher.MatcherList(
            matchers=[
                xds_matcher_pb2.Matcher.MatcherList.FieldMatcher(
                    predicate=_header_is(baggage, regex=matching.baggage_needs_patterns(member)),
                    on_match=xds_matcher_pb2.Matcher.OnMatch(action=_typed("routes", by_pattern)),
                )
            ]
        ),
        on_no_match=xds_matcher_pb2.Matcher.OnMatch(
            matcher=_lookup(matching.BAGGAGE_KEY_HEADER, by_value, _take(reads))
        ),
    )
    matcher = xds_matcher_pb2.Matcher(
        matcher_list=xds_matcher_pb2.Matcher.MatcherList(
            matchers=[
                xds_matcher_pb2.Matcher.MatcherList.FieldMatcher(
                    predicate=_header_is(REROUTE_HEADER, exact=REROUTE_TAG),
                    on_match=xds_matcher_pb2.Matcher.OnMatch(matcher=second_pick),
                ),
                # First pick, baggage with the member: the filters read it.
                xds_matcher_pb2.Matcher.MatcherList.FieldMatcher(
                    predicate=_header_is(baggage, regex=matching.baggage_may_carry(member)),
                    on_match=_take(reads),
                ),
            ]
        ),
        on_no_match=_take(baseline),
    )
    for header in reversed(headers.exact_headers):
        by_key: dict[str, route_components_pb2.Route] = {}
        for r in forks:
            by_key.setdefault(r.key, fork(r, header, headers=[]))
        matcher = _lookup(header, by_key, xds_matcher_pb2.Matcher.OnMatch(matcher=matcher))
    host.matcher.CopyFrom(matcher)
    return route_pb2.RouteConfiguration(name=front.name, virtual_hosts=[host])


def route_clusters(config: route_pb2.RouteConfiguration) -> set[str]:
    """The clusters a route configuration names, in its routes or its match trees (the xDS
    stream keeps a cluster while acknowledged routes name it)."""
    names: set[str] = set()

    def action(config: xds_extension_pb2.TypedExtensionConfig) -> None:
        if config.typed_config.Is(route_components_pb2.Route.DESCRIPTOR):
            route = route_components_pb2.Route()
            config.typed_config.Unpack(route)
            names.add(route.route.cluster)
        elif config.typed_config.Is(route_components_pb2.RouteList.DESCRIPTOR):
            routes = route_components_pb2.RouteList()
            config.typed_config.Unpack(routes)
            names.update(route.route.cluster for route in routes.routes)

    def on_match(found: xds_matcher_pb2.Matcher.OnMatch) -> None:
        if found.HasField("matcher"):
            walk(found.matcher)
        elif found.HasField("action"):
            action(found.action)

    def walk(matcher: xds_matcher_pb2.Matcher) -> None:
        for field in matcher.matcher_list.matchers:
            on_match(field.on_match)
        for found in matcher.matcher_tree.exact_match_map.map.values():
            on_match(found)
        for found in matcher.matcher_tree.prefix_match_map.map.values():
            on_match(found)
        if matcher.HasField("on_no_match"):
            on_match(matcher.on_no_match)

    for host in config.virtual_hosts:
        names.update(route.route.cluster for route in host.routes)
        if host.HasField("matcher"):
            walk(host.matcher)
    names.discard("")
    return names


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
