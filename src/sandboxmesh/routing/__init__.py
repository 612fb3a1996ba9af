"""Routing: requests carrying a sandbox's key reach its forks, everything else the baseline.

Pure core: `table` (route table from Sandbox objects), `matching` (the key matchers),
`envoy_resources` and `bootstrap` (what Envoy is told), `istio` and `gateway_api` (the same
table for a service mesh). Thin shell: `watcher` (Sandbox watch), `xds_server` (ADS),
`http_api` (/v1/routes, health, metrics), `server` (all of them together) and, for local
runs only, `local_run` and `envoy_process`.
"""

from sandboxmesh.routing.bootstrap import AdsServer, envoy_bootstrap
from sandboxmesh.routing.fronts import Front
from sandboxmesh.routing.local_run import LocalRouting, local_routing
from sandboxmesh.routing.matching import (
    BAGGAGE_HEADER,
    BAGGAGE_MEMBER,
    ROUTING_KEY_HEADER,
    KeyHeaders,
    baggage_pattern,
)
from sandboxmesh.routing.server import (
    Listen,
    RouteServer,
    RouteServerSettings,
    RouteServerThread,
    serve_until_signalled,
)
from sandboxmesh.routing.table import ForkRoute, RouteTable, ServiceRef, route_table_for
from sandboxmesh.routing.upstreams import Address, ServiceAddresses

__all__ = [
    "BAGGAGE_HEADER",
    "BAGGAGE_MEMBER",
    "ROUTING_KEY_HEADER",
    "Address",
    "AdsServer",
    "ForkRoute",
    "Front",
    "KeyHeaders",
    "Listen",
    "LocalRouting",
    "RouteServer",
    "RouteServerSettings",
    "RouteServerThread",
    "RouteTable",
    "ServiceAddresses",
    "ServiceRef",
    "baggage_pattern",
    "envoy_bootstrap",
    "local_routing",
    "route_table_for",
    "serve_until_signalled",
]
