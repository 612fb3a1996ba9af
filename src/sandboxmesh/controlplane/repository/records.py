"""Rows as the repository hands them out: plain frozen dataclasses, no SQL attached."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.domain.roles import Role


@dataclass(frozen=True)
class Organization:
    id: int
    name: str
    plan: Plan
    max_sandboxes: int | None
    active_sandboxes: int
    created_at: datetime


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    max_sandboxes: int | None
    active_sandboxes: int
    created_at: datetime


@dataclass(frozen=True)
class Member:
    id: int
    email: str
    role: Role
    default_team: str | None
    teams: tuple[str, ...]
    created_at: datetime
    #: None while the membership is pending (invited, not yet accepted): it opens nothing.
    accepted_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.accepted_at is None


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    prefix: str
    member_email: str
    #: The role of the member it belongs to (only owners touch owners' tokens).
    member_role: Role
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class Principal:
    """Who is calling: a member of one organisation, authenticated by one API token."""

    member_id: int
    email: str
    role: Role
    org_id: int
    org_name: str
    #: The API token presented; None when the member signed in to the portal instead.
    token_id: int | None
    team_ids: frozenset[int]
    default_team_id: int | None

    @property
    def actor(self) -> str:
        return f"member:{self.email}"


@dataclass(frozen=True)
class ClusterToken:
    id: int
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Cluster:
    id: int
    name: str
    revision: int
    last_seen_at: datetime | None
    agent_version: str | None
    created_at: datetime


@dataclass(frozen=True)
class AgentIdentity:
    """An authenticated agent: the cluster whose token it presented."""

    cluster_id: int
    cluster_name: str
    org_id: int
    token_id: int

    @property
    def actor(self) -> str:
        return f"cluster:{self.cluster_name}"


@dataclass(frozen=True)
class Sandbox:
    """A sandbox as callers see it: what the API and the agent are told of it."""

    name: str
    team: str
    cluster: str
    spec: dict[str, Any]
    generation: int
    routing_key: str
    status: dict[str, Any] | None
    observed_generation: int | None
    phase: str
    deleting: bool
    deletion_requested_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class StoredSandbox(Sandbox):
    """A sandbox read from the store (or written by the statement that returned it): with its
    row's id and the cluster revision it last changed at. A create held for the commit of its
    unit of work (repository/transaction.py) has neither yet, and is a plain `Sandbox`."""

    id: int
    revision: int


@dataclass(frozen=True)
class RouteGroup:
    """A route group as stored: its spec, the key issued, and the revision it last changed at
    on its cluster. `deleting`: a tombstone, kept until the agent has been told."""

    id: int
    name: str
    cluster: str
    cluster_id: int
    spec: dict[str, Any]
    generation: int
    routing_key: str
    deleting: bool
    revision: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


@dataclass(frozen=True)
class User:
    """A portal account: one per email, whatever organisations that email is a member of.

    It opens those organisations only once `email_verified_at` says its holder proved the
    address; before, it opens nothing."""

    id: int
    email: str
    password_hash: str
    created_at: datetime
    email_verified_at: datetime | None
    last_org_id: int | None

    @property
    def verified(self) -> bool:
        return self.email_verified_at is not None


@dataclass(frozen=True)
class PortalSession:
    """A live portal session: who signed in, and as which member of which organisation."""

    id: int
    user_id: int
    principal: Principal
    #: Names of the member's teams, for the pages to show what the member may change.
    team_names: tuple[str, ...]
    expires_at: datetime
    #: Names of every organisation the account is a member of (the session's among them).
    organizations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invitation:
    id: int
    prefix: str
    role: Role
    team: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    accepted_by: str | None
    revoked_at: datetime | None
    #: The address it was sent to (only that address may accept it); None: an open link.
    email: str | None = None


@dataclass(frozen=True)
class RouteTrace:
    """A route trace a user asked for, and the hops its cluster's agent reported."""

    trace_id: str
    sandbox: str
    cluster: str
    requested_by: str
    created_at: datetime
    answered_at: datetime | None
    #: As reported (`spec.protocol.TraceHop`'s wire form); None until answered.
    hops: list[dict[str, Any]] | None
