"""Routing: requests carrying a sandbox's key reach its forks, everything else the baseline.

Four parts, each a package, layered (import-linter contracts in pyproject.toml):

- `core`: the pure core, data in and data out: the route table, key matching, Envoy's
  resources and bootstrap, the Istio and Gateway API renderers, the router objects;
- `xds`: the route server's serving side, the ADS gRPC service and the HTTP API, reading
  the route state (`state`, with the server's `metrics`);
- `controllers`: the Kubernetes side, writing the route state or the cluster: the Sandbox
  watch, the mesh applier, and router placement;
- `server`: the route server, all of them under one supervisor (`sandboxmesh route-server`).

`local` (a route server in a thread and a real Envoy, for tests and benchmarks) sits on top;
nothing here imports it. The core imports neither the xDS server nor the Kubernetes side.
"""

from sandboxmesh.routing.core.bootstrap import AdsServer, envoy_bootstrap
from sandboxmesh.routing.core.fronts import Front
from sandboxmesh.routing.core.matching import (
    BAGGAGE_HEADER,
    BAGGAGE_MEMBER,
    ROUTING_KEY_HEADER,
    KeyHeaders,
    baggage_pattern,
)
from sandboxmesh.routing.core.table import ForkRoute, RouteTable, ServiceRef, route_table_for
from sandboxmesh.routing.core.upstreams import Address, ServiceAddresses
from sandboxmesh.routing.server import (
    Listen,
    RouteServer,
    RouteServerSettings,
    RouteServerThread,
    serve_until_signalled,
)

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
    "RouteServer",
    "RouteServerSettings",
    "RouteServerThread",
    "RouteTable",
    "ServiceAddresses",
    "ServiceRef",
    "baggage_pattern",
    "envoy_bootstrap",
    "route_table_for",
    "serve_until_signalled",
]
