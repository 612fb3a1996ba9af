"""Prometheus metrics of one app, on a registry of its own (several apps may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sandboxmesh_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sandboxmesh_http_request_duration_seconds",
            "Time to answer an HTTP request (long-polls excluded).",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.sandboxes_created = Counter(
            "sandboxmesh_sandboxes_created", "Sandboxes created.", registry=self.registry
        )
        self.quota_rejections = Counter(
            "sandboxmesh_quota_rejections",
            "Creates refused by a quota, by the scope of the limit.",
            ["limit"],
            registry=self.registry,
        )
        self.long_polls = Gauge(
            "sandboxmesh_agent_long_polls_waiting",
            "Agent long-polls waiting for a change.",
            registry=self.registry,
        )
        self.ttl_expired = Counter(
            "sandboxmesh_sandboxes_expired", "Sandboxes whose TTL ran out.", registry=self.registry
        )
