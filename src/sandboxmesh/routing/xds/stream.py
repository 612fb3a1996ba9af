"""The state of one ADS stream (state-of-the-world), and what to send next: no I/O here.

Envoy's ordering rules (xDS protocol, "eventual consistency") come down to make-before-break:

1. clusters first: a route is only ever rendered against clusters Envoy has *acknowledged*;
2. listeners next, then their routes;
3. a cluster leaves only once the routes Envoy has acknowledged no longer name it.

One response is in flight at a time: the next one waits for the ACK or NACK of the previous
one, which is what keeps the order without guessing how long Envoy takes to apply a change.

A NACK never wedges the stream: the rejected version is remembered and not resent, other types
go on, and the next change of the route table produces a new version that is sent as usual.
Envoy keeps serving its last accepted configuration meanwhile.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from sandboxmesh.routing.core import envoy_resources
from sandboxmesh.routing.core import gateway as preview_gateway
from sandboxmesh.routing.core.envoy_resources import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from sandboxmesh.routing.core.fronts import Front, Gateway
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.preview_signin import PreviewKeys
from sandboxmesh.routing.core.table import RouteTable
from sandboxmesh.routing.core.upstreams import ServiceAddresses

TYPE_NAMES = {CLUSTER_TYPE: "cluster", LISTENER_TYPE: "listener", ROUTE_TYPE: "route"}


class RequestOutcome(StrEnum):
    SUBSCRIBE = "subscribe"
    ACK = "ack"
    NACK = "nack"
    STALE = "stale"
    UNKNOWN_TYPE = "unknown-type"


@dataclass
class TypeState:
    subscribed: bool = False
    #: Names Envoy asked for; empty means every resource (wildcard).
    names: frozenset[str] = frozenset()
    sent_version: str | None = None
    sent_nonce: str | None = None
    sent_resources: dict[str, Any] = field(default_factory=dict)
    pending: bool = False
    acked_version: str | None = None
    acked_resources: dict[str, Any] = field(default_factory=dict)
    rejected_version: str | None = None


@dataclass(frozen=True)
class Outcome:
    kind: RequestOutcome
    type_url: str
    version: str = ""
    error: str = ""


def content_version(resources: dict[str, Any]) -> str:
    """A version that changes exactly when the resources do (deterministic serialisation)."""
    digest = hashlib.sha256()
    for name in sorted(resources):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(resources[name].SerializeToString(deterministic=True))
    return digest.hexdigest()[:16]


def _route_clusters(routes: Iterable[Any]) -> set[str]:
    names: set[str] = set()
    for config in routes:
        names.update(envoy_resources.route_clusters(config))
    return names


@dataclass(frozen=True, eq=False)
class _Inputs:
    """What a rendering is made of, as the route state holds it."""

    table: RouteTable
    headers: KeyHeaders
    addresses: ServiceAddresses
    route_traces: bool
    previews: tuple[preview_gateway.PreviewHost, ...]
    keys: PreviewKeys | None

    def same(self, other: _Inputs) -> bool:
        """The very same objects (the route state replaces what changes, never mutates it):
        cheaper than comparing tables of 1,000 routes for equality."""
        return (
            self.table is other.table
            and self.headers is other.headers
            and self.addresses is other.addresses
            and self.route_traces == other.route_traces
            and self.previews is other.previews
            and self.keys is other.keys
        )


class _Desired(Mapping[str, dict[str, Any]]):
    """The resources per type, the routes rendered on first access."""

    def __init__(
        self, ready: dict[str, dict[str, Any]], routes: Callable[[], dict[str, Any]]
    ) -> None:
        self._ready = ready
        self._routes = routes

    def __getitem__(self, type_url: str) -> dict[str, Any]:
        if type_url == ROUTE_TYPE:
            return self._routes()
        return self._ready[type_url]

    def __iter__(self) -> Iterator[str]:
        return iter((CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE))

    def __len__(self) -> int:
        return 3


@dataclass
class StreamState:
    """One Envoy's ADS stream: its fronts (or the preview gateway it is) and what it has been
    sent and has accepted."""

    fronts: list[Front]
    gateway: Gateway | None = None
    types: dict[str, TypeState] = field(
        default_factory=lambda: {url: TypeState() for url in TYPE_NAMES}
    )
    _nonces: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: The last rendering, by the inputs it was made of (desired()).
    _rendered: tuple[_Inputs, tuple[dict[str, Any], dict[str, Any]]] | None = None
    _routed: tuple[_Inputs, frozenset[str], dict[str, Any]] | None = None
    #: The clusters the acknowledged routes name, by the acknowledged routes they came from.
    _named: tuple[dict[str, Any], set[str]] | None = None

    def on_request(self, request: discovery_pb2.DiscoveryRequest) -> Outcome:
        """Record a request: a subscription, or the ACK/NACK of the response in flight."""
        state = self.types.get(request.type_url)
        if state is None:
            return Outcome(RequestOutcome.UNKNOWN_TYPE, request.type_url)
        if request.response_nonce and request.response_nonce != state.sent_nonce:
            # Answers a response that a newer one replaced; Envoy will answer the newer one.
            return Outcome(RequestOutcome.STALE, request.type_url)
        state.names = frozenset(request.resource_names)
        if not request.response_nonce:
            state.subscribed = True
            return Outcome(RequestOutcome.SUBSCRIBE, request.type_url, request.version_info)
        state.pending = False
        if request.HasField("error_detail"):
            state.rejected_version = state.sent_version
            return Outcome(
                RequestOutcome.NACK,
                request.type_url,
                state.sent_version or "",
                request.error_detail.message,
            )
        state.acked_version = state.sent_version
        state.acked_resources = state.sent_resources
        state.rejected_version = None
        return Outcome(RequestOutcome.ACK, request.type_url, request.version_info)

    def in_flight(self) -> bool:
        return any(state.pending for state in self.types.values())

    def acked_cluster_names(self) -> set[str]:
        return set(self.types[CLUSTER_TYPE].acked_resources)

    def desired(
        self,
        table: RouteTable,
        headers: KeyHeaders,
        addresses: ServiceAddresses,
        route_traces: bool = True,
        previews: tuple[preview_gateway.PreviewHost, ...] = (),
        keys: PreviewKeys | None = None,
    ) -> Mapping[str, dict[str, Any]]:
        """What Envoy should have now, per type, under the make-before-break rules.

        The stream asks after every event (a table change, each ACK), and rendering 1,000
        routes takes tens of milliseconds: what was rendered is kept while its inputs are the
        same objects (the route state replaces, never mutates, what changes), and the routes
        are rendered only when asked for, which is not while clusters are still to be sent.
        """
        inputs = _Inputs(table, headers, addresses, route_traces, previews, keys)
        if self._rendered is None or not self._rendered[0].same(inputs):
            self._rendered = (inputs, self._render_node(inputs))
        wanted, listeners = self._rendered[1]
        clusters = dict(wanted)
        # Keep what acknowledged routes still name, as Envoy last accepted it.
        acked_routes = self.types[ROUTE_TYPE].acked_resources
        if self._named is None or self._named[0] is not acked_routes:
            # Walking 1,000 routes' match trees takes tens of milliseconds: once per ACK.
            self._named = (acked_routes, _route_clusters(acked_routes.values()))
        old_clusters = self.types[CLUSTER_TYPE].acked_resources
        for name in self._named[1] - clusters.keys():
            if name in old_clusters:
                clusters[name] = old_clusters[name]
        # A route needs its cluster acknowledged by Envoy and still wanted: a fork that lost
        # its address (local runs) loses its route even though Envoy still has the cluster.
        usable = frozenset(self.acked_cluster_names() & wanted.keys())

        def routes() -> dict[str, Any]:
            kept = self._routed
            if kept is None or not kept[0].same(inputs) or kept[1] != usable:
                self._routed = kept = (inputs, usable, self._render_routes(inputs, usable))
            return kept[2]

        return _Desired({CLUSTER_TYPE: clusters, LISTENER_TYPE: listeners}, routes)

    def _render_node(self, inputs: _Inputs) -> tuple[dict[str, Any], dict[str, Any]]:
        node = envoy_resources.node_resources(
            self.fronts,
            inputs.table,
            inputs.addresses,
            inputs.headers,
            route_traces=inputs.route_traces,
        )
        wanted = dict(node.clusters)
        listeners = dict(node.listeners)
        if self.gateway is not None:
            wanted.update(preview_gateway.clusters(inputs.previews, inputs.table, inputs.addresses))
            listeners[preview_gateway.NAME] = preview_gateway.listener(
                self.gateway, inputs.keys, inputs.headers, route_traces=inputs.route_traces
            )
        return wanted, listeners

    def _render_routes(self, inputs: _Inputs, usable: frozenset[str]) -> dict[str, Any]:
        routes = envoy_resources.route_configurations(
            self.fronts, inputs.table, inputs.headers, usable.__contains__
        )
        if self.gateway is not None:
            routes[preview_gateway.NAME] = preview_gateway.route_configuration(
                inputs.previews, inputs.table, inputs.headers, inputs.keys, usable.__contains__
            )
        return routes

    def next_response(
        self, desired: Mapping[str, dict[str, Any]]
    ) -> discovery_pb2.DiscoveryResponse | None:
        """The response to send now, or None (nothing changed, or a response is in flight)."""
        if self.in_flight():
            return None
        for type_url in (CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE):
            state = self.types[type_url]
            if not state.subscribed:
                continue
            resources = desired[type_url]
            if state.names:
                resources = {n: r for n, r in resources.items() if n in state.names}
            version = content_version(resources)
            # Already sent, refused (resending would only be refused again), or what Envoy
            # kept when it refused something newer.
            if version in (state.sent_version, state.rejected_version, state.acked_version):
                continue
            return self._respond(type_url, state, resources, version)
        return None

    def _respond(
        self, type_url: str, state: TypeState, resources: dict[str, Any], version: str
    ) -> discovery_pb2.DiscoveryResponse:
        nonce = str(next(self._nonces))
        state.sent_version, state.sent_nonce = version, nonce
        state.sent_resources, state.pending = resources, True
        packed = []
        for name in sorted(resources):
            message = any_pb2.Any()
            message.Pack(resources[name])
            packed.append(message)
        return discovery_pb2.DiscoveryResponse(
            version_info=version, type_url=type_url, nonce=nonce, resources=packed
        )
