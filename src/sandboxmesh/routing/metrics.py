"""Prometheus metrics of the route server, on a registry of its own (one per server instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RouteServerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.routes = Gauge("sandboxmesh_routes", "Fork routes in the route table.", registry=r)
        self.table_updates = Counter(
            "sandboxmesh_route_table_updates", "Route table changes.", registry=r
        )
        self.route_conflicts = Gauge(
            "sandboxmesh_route_conflicts", "Routes dropped for a duplicated key.", registry=r
        )
        self.route_group_conflicts = Gauge(
            "sandboxmesh_route_group_conflicts",
            "Baselines that several members of a route group fork (its key routes none there).",
            registry=r,
        )
        self.preview_hosts = Gauge(
            "sandboxmesh_preview_hosts", "Hosts the preview gateway serves.", registry=r
        )
        self.preview_keys = Gauge(
            "sandboxmesh_preview_keys_loaded",
            "1 when the preview gateway has the control plane's signing keys, else 0.",
            registry=r,
        )
        self.watch_events = Counter(
            "sandboxmesh_watch_events", "Sandbox watch events.", ["type"], registry=r
        )
        self.watch_restarts = Counter(
            "sandboxmesh_watch_restarts", "Sandbox watch re-lists after an error.", registry=r
        )
        self.invalid_sandboxes = Gauge(
            "sandboxmesh_invalid_sandboxes",
            "Sandbox objects whose status does not parse.",
            registry=r,
        )
        self.xds_streams = Gauge(
            "sandboxmesh_xds_streams", "Connected Envoy ADS streams.", registry=r
        )
        self.xds_responses = Counter(
            "sandboxmesh_xds_responses", "xDS responses sent.", ["type"], registry=r
        )
        self.xds_acks = Counter("sandboxmesh_xds_acks", "xDS ACKs received.", ["type"], registry=r)
        self.xds_nacks = Counter(
            "sandboxmesh_xds_nacks", "xDS NACKs received.", ["type"], registry=r
        )
        self.trace_hops = Counter(
            "sandboxmesh_trace_hops", "Route-trace hops routers reported.", registry=r
        )
        self.trace_hops_dropped = Counter(
            "sandboxmesh_trace_hops_dropped",
            "Route-trace hops dropped: the trace buffer was full (oldest trace first) or a "
            "trace had too many hops.",
            registry=r,
        )
        self.xds_push_seconds = Histogram(
            "sandboxmesh_xds_push_seconds",
            "From a route table change to Envoy's ACK of the last response it caused.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
