"""The preview gateway: Envoy serving `*.<preview domain>`, rendered from sandboxes' preview URLs.

Pure, as `envoy_resources`. A preview host (`<endpoint>-<key>.<domain>`, spec/preview.py)
names a sandbox and an entry Service; the gateway

- answers a host that names no live sandbox with a 404 of its own (never the baseline);
- for an `authenticated` host, checks the token the control plane signed (jwt_authn, keys from
  the agent's ConfigMap), sends a browser without one to the control plane's authorize URL,
  and at CALLBACK_PATH keeps the token it is sent back with in a host-only cookie (Lua);
- sets the sandbox's key in `baggage` (replacing the client's, and dropping any exact key
  header the client sent, so a preview of one sandbox cannot be turned into another's), and
  routes the entry hop itself: to the fork of the entry Service when the sandbox forks it
  and the fork is routable, else to the entry Service. Every hop behind routes on the key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2
from envoy.extensions.filters.http.lua.v3 import lua_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2
from google.protobuf import duration_pb2, struct_pb2, wrappers_pb2

from sandboxmesh.routing.core import matching
from sandboxmesh.routing.core.envoy_resources import (
    FORK_RETRY,
    cluster,
    fork_cluster_name,
    pack,
    trace_log,
)
from sandboxmesh.routing.core.fronts import Gateway
from sandboxmesh.routing.core.groups import RouteGroupView, members
from sandboxmesh.routing.core.preview_signin import (
    JWT_FILTER,
    LUA_FILTER,
    LUA_SOURCE,
    REQUIREMENT,
    PreviewKeys,
    jwt_filter,
)
from sandboxmesh.routing.core.table import RouteTable, SandboxView, ServiceRef
from sandboxmesh.routing.core.upstreams import ServiceAddresses
from sandboxmesh.spec import preview
from sandboxmesh.spec.preview import Access, PreviewUrl

NAME = "preview-gateway"
#: The access log's name: route traces (core/trace.py) read a hop of the gateway by it.
TRACE_LOG = "gateway"
NOT_FOUND_BODY = (
    "No preview answers at this address: it names no sandbox, or the sandbox was deleted.\n"
)
NO_KEYS_BODY = (
    "This preview needs a sign-in, and the cluster has not received the control plane's "
    "signing keys yet (the agent delivers them).\n"
)


@dataclass(frozen=True, order=True)
class PreviewHost:
    """A preview host, the sandbox (and key) it names, and its entry Service port.

    `origin` is the preview URL's scheme, host and port as users reach the gateway (behind a
    NodePort or a load balancer, not as Envoy sees the request): the sign-in sends the browser
    back there.
    """

    host: str
    sandbox: str
    key: str
    entry: ServiceRef
    port: int
    access: Access
    origin: str
    #: The route group whose key the host carries, when it is a group's (`sandbox` then
    #: names the group).
    group: str | None = None


def preview_hosts(
    sandboxes: Iterable[SandboxView], groups: Iterable[RouteGroupView] = ()
) -> tuple[PreviewHost, ...]:
    """The hosts of live sandboxes' preview URLs, then of route groups' (their members'
    endpoints under the group's key, spec.preview.group_preview_urls), by host; a host two
    claim (keys are unique, so only a hand-written status can) goes to the first by name."""
    views = sorted(sandboxes, key=lambda s: s.name)
    hosts: dict[str, PreviewHost] = {}

    def add(urls: Iterable[PreviewUrl], name: str, key: str, group: str | None) -> None:
        for url in urls:
            parts = urlsplit(url.url)
            host = (parts.hostname or "").lower()
            if not host or host in hosts or parts.scheme not in ("http", "https"):
                continue
            hosts[host] = PreviewHost(
                host=host,
                sandbox=name,
                key=key,
                entry=ServiceRef(url.namespace, url.service),
                port=url.port,
                access=url.access,
                origin=f"{parts.scheme}://{parts.netloc.lower()}",
                group=group,
            )

    for sandbox in views:
        if sandbox.live and sandbox.status is not None and sandbox.routing_key is not None:
            add(sandbox.status.preview_urls, sandbox.name, sandbox.routing_key, None)
    for group in sorted(groups, key=lambda g: g.name):
        if group.deleting or group.routing_key is None:
            continue
        member_urls = [m.status.preview_urls for m in members(group, views) if m.status]
        urls = preview.group_preview_urls(group.routing_key, member_urls)
        add(urls, group.name, group.routing_key, group.name)
    return tuple(sorted(hosts.values()))


def entry_cluster_name(entry: ServiceRef, port: int) -> str:
    return f"preview|{entry.namespace}|{entry.name}|{port}"


def _fork_of(host: PreviewHost, table: RouteTable) -> ServiceRef | None:
    """The fork Service the host's sandbox routes the entry Service to, if any."""
    for route in table.routes_for(host.entry):
        if route.key == host.key and route.group == host.group:
            return route.fork
    return None


def _target(host: PreviewHost, table: RouteTable) -> str:
    fork = _fork_of(host, table)
    if fork is not None:
        return fork_cluster_name(fork, host.port)
    return entry_cluster_name(host.entry, host.port)


def clusters(
    hosts: Iterable[PreviewHost], table: RouteTable, addresses: ServiceAddresses
) -> dict[str, Any]:
    """The entry Services' clusters, and the forks' that hosts route to (or soon will)."""
    found: dict[str, Any] = {}
    for host in hosts:
        address = addresses.address(host.entry, host.port)
        if address is not None:
            name = entry_cluster_name(host.entry, host.port)
            found[name] = cluster(name, address)
        forks = [*table.routes_for(host.entry), *table.pending_for(host.entry)]
        for route in forks:
            if route.key != host.key or route.group != host.group:
                continue
            fork_address = addresses.address(route.fork, host.port)
            if fork_address is not None:
                name = fork_cluster_name(route.fork, host.port)
                found[name] = cluster(name, fork_address)
    return found


def _struct(values: dict[str, str]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def _plain(status: int, body: str) -> route_components_pb2.DirectResponseAction:
    return route_components_pb2.DirectResponseAction(
        status=status, body=base_pb2.DataSource(inline_string=body)
    )


def _host_route(
    host: PreviewHost,
    table: RouteTable,
    keys: PreviewKeys | None,
    usable: Callable[[str], bool],
) -> route_components_pb2.Route | None:
    match = route_components_pb2.RouteMatch(prefix="/")
    # Route traces read the decision back from the name (trace.gateway_decision).
    name = f"{host.sandbox}|{host.host}" + ("|group" if host.group else "")
    if host.access is Access.AUTHENTICATED and keys is None:
        return route_components_pb2.Route(
            name=name, match=match, direct_response=_plain(503, NO_KEYS_BODY)
        )
    target = _target(host, table)
    if not usable(target):
        return None  # its cluster is on its way; the host answers 404 until it is there
    fork = target.startswith("fork|")
    route = route_components_pb2.Route(
        name=name,
        match=match,
        route=route_components_pb2.RouteAction(
            cluster=target,
            timeout=duration_pb2.Duration(seconds=0),
            retry_policy=FORK_RETRY if fork else None,
        ),
    )
    if host.access is Access.AUTHENTICATED:
        route.typed_per_filter_config[JWT_FILTER].Pack(
            jwt_pb2.PerRouteConfig(requirement_name=REQUIREMENT)
        )
        assert keys is not None
        route.metadata.filter_metadata[LUA_FILTER].CopyFrom(
            _struct({"host": host.host, "origin": host.origin, "authorize": keys.authorize_url})
        )
    return route


def _key_headers(
    host: PreviewHost, headers: matching.KeyHeaders
) -> list[base_pb2.HeaderValueOption]:
    return [
        base_pb2.HeaderValueOption(
            header=base_pb2.HeaderValue(
                key=headers.baggage_header, value=f"{headers.baggage_member}={host.key}"
            ),
            append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
        )
    ]


def route_configuration(
    hosts: Iterable[PreviewHost],
    table: RouteTable,
    headers: matching.KeyHeaders,
    keys: PreviewKeys | None,
    usable: Callable[[str], bool],
) -> route_pb2.RouteConfiguration:
    """A virtual host per preview host, then the 404 for every other host."""
    virtual_hosts = []
    for host in hosts:
        route = _host_route(host, table, keys, usable)
        if route is None:
            continue
        virtual_hosts.append(
            route_components_pb2.VirtualHost(
                name=host.host,
                domains=[host.host],
                routes=[route],
                request_headers_to_add=_key_headers(host, headers),
                request_headers_to_remove=[*headers.exact_headers, preview.TOKEN_HEADER],
            )
        )
    virtual_hosts.append(
        route_components_pb2.VirtualHost(
            name="unknown",
            domains=["*"],
            routes=[
                route_components_pb2.Route(
                    name="unknown",
                    match=route_components_pb2.RouteMatch(prefix="/"),
                    direct_response=_plain(404, NOT_FOUND_BODY),
                )
            ],
        )
    )
    return route_pb2.RouteConfiguration(name=NAME, virtual_hosts=virtual_hosts)


def _filter(name: str, config: Any) -> hcm_pb2.HttpFilter:
    return hcm_pb2.HttpFilter(name=name, typed_config=pack(config))


def listener(
    gateway: Gateway,
    keys: PreviewKeys | None,
    headers: matching.KeyHeaders | None = None,
    *,
    route_traces: bool = True,
) -> listener_pb2.Listener:
    """The gateway's listener; its routes come over ADS as NAME. With `route_traces`, traced
    requests are logged to the route server, as routers log them (core/trace.py)."""
    filters = []
    if keys is not None:
        filters.append(_filter(JWT_FILTER, jwt_filter(keys)))
    filters.append(
        _filter(
            LUA_FILTER,
            lua_pb2.Lua(default_source_code=base_pb2.DataSource(inline_string=LUA_SOURCE)),
        )
    )
    filters.append(_filter("envoy.filters.http.router", router_pb2.Router()))
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix="preview_gateway",
        codec_type=hcm_pb2.HttpConnectionManager.AUTO,
        # Hosts match with or without the port the client wrote (a NodePort, say).
        strip_any_host_port=True,
        use_remote_address=wrappers_pb2.BoolValue(value=True),
        rds=hcm_pb2.Rds(
            route_config_name=NAME,
            config_source=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource(),
                resource_api_version=config_source_pb2.V3,
            ),
        ),
        http_filters=filters,
        access_log=[trace_log(TRACE_LOG, headers or matching.KeyHeaders())] if route_traces else [],
    )
    chain = listener_components_pb2.FilterChain(
        filters=[
            listener_components_pb2.Filter(
                name="envoy.filters.network.http_connection_manager",
                typed_config=pack(manager),
            )
        ]
    )
    if gateway.tls_certificate_file is not None and gateway.tls_key_file is not None:
        tls = tls_pb2.DownstreamTlsContext(
            common_tls_context=tls_pb2.CommonTlsContext(
                tls_certificates=[
                    common_pb2.TlsCertificate(
                        certificate_chain=base_pb2.DataSource(
                            filename=gateway.tls_certificate_file
                        ),
                        private_key=base_pb2.DataSource(filename=gateway.tls_key_file),
                    )
                ],
                alpn_protocols=["h2", "http/1.1"],
            )
        )
        chain.transport_socket.CopyFrom(
            base_pb2.TransportSocket(name="envoy.transport_sockets.tls", typed_config=pack(tls))
        )
    return listener_pb2.Listener(
        name=NAME,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(
                address=gateway.listen_address, port_value=gateway.listen_port
            )
        ),
        filter_chains=[chain],
    )
