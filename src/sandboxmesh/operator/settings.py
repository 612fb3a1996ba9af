"""Operator settings, grouped by topic (kopf's habit): forking, leadership, probes."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sandboxmesh.operator.previews import PreviewSettings


@dataclass(frozen=True)
class ForkingSettings:
    #: Namespaces the operator may fork in; None means every namespace.
    namespaces: frozenset[str] | None = None
    #: How long a deleted sandbox stays not-Ready before its objects go, so routers stop
    #: sending it traffic first.
    drain_seconds: float = 2.0
    #: A full reconcile of every sandbox at this interval, a safety net behind the watches.
    resync_seconds: float = 600.0
    #: Sandboxes reconciled at once (controller-runtime's MaxConcurrentReconciles). Two
    #: hundred at once, unbounded, kept requests waiting past the client's 10 s timeout.
    concurrent_reconciles: int = 16
    #: Where the cluster's preview gateway answers (no domain: no preview URLs).
    previews: PreviewSettings = field(default_factory=PreviewSettings)


def _default_identity() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaderElectionSettings:
    enabled: bool = True
    namespace: str = field(
        default_factory=lambda: os.environ.get("POD_NAMESPACE", "sandboxmesh-system")
    )
    lease_name: str = "sandboxmesh-operator"
    identity: str = field(default_factory=_default_identity)
    #: As client-go: a lease unrenewed for this long may be taken over.
    lease_duration_seconds: int = 15
    #: The leader gives up (and exits) when it could not renew for this long.
    renew_deadline_seconds: float = 10.0
    retry_period_seconds: float = 2.0


@dataclass(frozen=True)
class ProbeSettings:
    host: str = "0.0.0.0"  # noqa: S104 - probes must be reachable by the kubelet
    #: Serves /healthz, /readyz and /metrics; 0 disables the server.
    port: int = 8080


@dataclass(frozen=True)
class OperatorSettings:
    forking: ForkingSettings = field(default_factory=ForkingSettings)
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)
    probes: ProbeSettings = field(default_factory=ProbeSettings)
    #: A kubeconfig file; None means in-cluster config (or $KUBECONFIG).
    kubeconfig: Path | None = None
