"""Prometheus metrics of the operator, in a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sandboxmesh.spec import Phase


class OperatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "sandboxmesh_operator_reconciles",
            "Sandbox reconciles, by result (ok, error).",
            ["result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "sandboxmesh_operator_reconcile_duration_seconds",
            "Time to reconcile one sandbox.",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.errors = Counter(
            "sandboxmesh_operator_errors",
            "Sandbox errors reported in status or raised by the API, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.sandboxes = Gauge(
            "sandboxmesh_operator_sandboxes",
            "Sandboxes by phase, as last reconciled.",
            ["phase"],
            registry=self.registry,
        )
        self.retries = Counter(
            "sandboxmesh_operator_reconcile_retries",
            "Reconciles scheduled again, with backoff, after one failed.",
            registry=self.registry,
        )
        self.leader = Gauge(
            "sandboxmesh_operator_leader",
            "1 while this replica holds the leader lease.",
            registry=self.registry,
        )
        self._phases: dict[str, str] = {}
        for phase in Phase:
            self.sandboxes.labels(phase=phase.value).set(0)

    def observe_phase(self, sandbox: str, phase: str | None) -> None:
        """Record a sandbox's phase (None once it is gone) in the gauge."""
        before = self._phases.pop(sandbox, None)
        if phase is not None:
            self._phases[sandbox] = phase
        if before == phase:
            return
        if before is not None:
            self.sandboxes.labels(phase=before).dec()
        if phase is not None:
            self.sandboxes.labels(phase=phase).inc()
