"""Clusters and their agent tokens as the API shows them, built from the stored records."""

from __future__ import annotations

from datetime import timedelta

from sandboxmesh.controlplane.domain.connection import connection_state
from sandboxmesh.controlplane.repository import records
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.spec.api.clusters import (
    ClusterCreate,
    ClusterList,
    ClusterPublic,
    ClusterRegistered,
    ClusterTokenList,
    ClusterTokenPublic,
    TokenRevoke,
    TokenRotate,
    TokenRotated,
)

__all__ = [
    "ClusterCreate",
    "ClusterList",
    "ClusterPublic",
    "ClusterRegistered",
    "ClusterTokenList",
    "ClusterTokenPublic",
    "TokenRevoke",
    "TokenRotate",
    "TokenRotated",
    "cluster_public",
    "cluster_token_public",
]


def cluster_public(cluster: records.Cluster, runtime: Runtime) -> ClusterPublic:
    """The cluster as of now, `stale` once its agent was silent longer than the settings say."""
    stale_after = timedelta(seconds=runtime.settings.agent.stale_after_seconds)
    return ClusterPublic(
        name=cluster.name,
        connection=connection_state(
            cluster.last_seen_at, now=runtime.clock(), stale_after=stale_after
        ),
        last_seen_at=cluster.last_seen_at,
        agent_version=cluster.agent_version,
        revision=cluster.revision,
        created_at=cluster.created_at,
    )


def cluster_token_public(token: records.ClusterToken) -> ClusterTokenPublic:
    return ClusterTokenPublic(
        prefix=token.prefix,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
    )
