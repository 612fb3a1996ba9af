"""Clusters: registering one (its agent's first token), rotating and revoking agent tokens,
deleting one.

The API and the portal both call these. The rule they share: only those who manage the
organisation (`domain.roles.manages_organization`: admins and owners) touch clusters and see
their tokens; every member sees the clusters themselves. A rotation's grace period defaults
to the operator's setting (`agent.rotation_grace_seconds`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sandboxmesh.controlplane.domain import secrets
from sandboxmesh.controlplane.repository.records import Cluster, ClusterToken
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.settings import AgentSettings
from sandboxmesh.controlplane.usecases import authorization


@dataclass(frozen=True)
class Registered:
    cluster: Cluster
    #: The agent's token: its plaintext is shown this once.
    token: secrets.IssuedToken


@dataclass(frozen=True)
class Rotated:
    #: The new token: its plaintext is shown this once.
    token: secrets.IssuedToken
    grace: timedelta
    #: When the tokens that were live before stop working.
    previous_valid_until: datetime


async def register_cluster(org: OrgScope, name: str) -> Registered:
    """Register `name` (409 when the organisation has one of that name)."""
    authorization.require_manage(org.principal)
    cluster, issued = await org.clusters.register(name)
    return Registered(cluster, issued)


async def delete_cluster(org: OrgScope, name: str) -> None:
    """Delete `name` (409 while sandboxes still run on it)."""
    authorization.require_manage(org.principal)
    await org.clusters.delete(name)


async def cluster_tokens(org: OrgScope, name: str) -> list[ClusterToken]:
    authorization.require_manage(org.principal)
    return await org.clusters.tokens(name)


async def rotate_token(
    org: OrgScope, name: str, *, agent: AgentSettings, grace: timedelta | None = None
) -> Rotated:
    """A new agent token for `name`; the live ones keep working for `grace` (by default the
    operator's `agent.rotation_grace_seconds`), then are refused."""
    authorization.require_manage(org.principal)
    if grace is None:
        grace = timedelta(seconds=agent.rotation_grace_seconds)
    issued = await org.clusters.rotate(name, grace=grace)
    return Rotated(issued, grace, previous_valid_until=org.tx.now + grace)


async def revoke_tokens(org: OrgScope, name: str, *, prefix: str | None) -> list[ClusterToken]:
    """Revoke one agent token of `name` (by `prefix`) or, with None, every one: refused from
    the agent's next call. Returns the cluster's tokens as they are then."""
    authorization.require_manage(org.principal)
    return await org.clusters.revoke(name, prefix=prefix)
