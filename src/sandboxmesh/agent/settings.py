"""Agent settings, grouped by topic."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class TokenSettings:
    """Where the cluster token lives: a file (e.g. a mounted Secret) or a Secret read via the
    API. Either is re-read while the agent runs, so a rotated token is picked up."""

    file: Path | None = None
    secret_namespace: str | None = None
    secret_name: str | None = None
    secret_key: str = "token"  # noqa: S105 - the key's name within the Secret
    #: How long a token read from a Secret is trusted before it is read again.
    refresh_seconds: float = 10.0


@dataclass(frozen=True)
class SyncSettings:
    #: How long the control plane may hold a long-poll open when nothing changes.
    poll_wait_seconds: float = 30.0
    #: Status changes arriving within this window go out in one report.
    report_window_seconds: float = 0.2
    #: Exponential backoff with full jitter between failed calls.
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0


@dataclass(frozen=True)
class AgentSettings:
    control_plane_url: str
    token: TokenSettings
    sync: SyncSettings = field(default_factory=SyncSettings)
    #: A kubeconfig file; None means in-cluster config (or $KUBECONFIG).
    kubeconfig: Path | None = None
    probe_host: str = "0.0.0.0"  # noqa: S104 - probes must be reachable by the kubelet
    probe_port: int = 8081
    #: The route server's HTTP API: with it, the agent relays route traces (it asks the
    #: control plane for them with `features=traces`); without it, it never asks.
    route_server_url: str | None = None
    #: Where the agent writes what is its own to write beside Sandbox objects (the preview
    #: keys' ConfigMap). None: the namespace of its token Secret, else its client's default
    #: (in a Pod: the Pod's namespace; otherwise the kubeconfig context's).
    namespace: str | None = None

    def own_namespace(self, client_default: str) -> str:
        return self.namespace or self.token.secret_namespace or client_default
