"""Prometheus metrics of the agent, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Info

from sandboxmesh import __version__


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        Info("sandboxmesh_agent", "The agent's version.", registry=self.registry).info(
            {"version": __version__}
        )
        self.polls = Counter(
            "sandboxmesh_agent_polls", "Long-polls answered, by result.", ["result"],
            registry=self.registry,
        )  # fmt: skip
        self.applied = Counter(
            "sandboxmesh_agent_sandboxes_applied", "Sandbox objects applied.",
            registry=self.registry,
        )  # fmt: skip
        self.deleted = Counter(
            "sandboxmesh_agent_sandboxes_deleted", "Sandbox objects deleted, by cause.", ["cause"],
            registry=self.registry,
        )  # fmt: skip
        self.reports = Counter(
            "sandboxmesh_agent_status_batches", "Status batches sent, by result.", ["result"],
            registry=self.registry,
        )  # fmt: skip
        self.pending = Gauge(
            "sandboxmesh_agent_pending_reports", "Status changes waiting to be reported.",
            registry=self.registry,
        )  # fmt: skip
        self.revision = Gauge(
            "sandboxmesh_agent_revision", "The cluster revision the agent has reached.",
            registry=self.registry,
        )  # fmt: skip
        self.authorized = Gauge(
            "sandboxmesh_agent_authorized", "0 while the control plane refuses the token.",
            registry=self.registry,
        )  # fmt: skip
