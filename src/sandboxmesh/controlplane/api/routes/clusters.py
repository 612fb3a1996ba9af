"""Clusters: register (token shown once), list, get, delete, rotate and revoke tokens."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, status

from sandboxmesh.controlplane.api.deps import AdminScope, OrgScope
from sandboxmesh.controlplane.api.schemas.base import ERROR_RESPONSES
from sandboxmesh.controlplane.usecases import clusters
from sandboxmesh.controlplane.web.dependencies import RuntimeDep
from sandboxmesh.controlplane.web.paths import ClusterName
from sandboxmesh.controlplane.web.schemas.clusters import (
    ClusterCreate,
    ClusterList,
    ClusterPublic,
    ClusterRegistered,
    ClusterTokenList,
    TokenRevoke,
    TokenRotate,
    TokenRotated,
    cluster_public,
    cluster_token_public,
)

router = APIRouter(prefix="/api/v1/clusters", tags=["clusters"], responses=ERROR_RESPONSES)


@router.get("")
async def list_clusters(org: OrgScope, runtime: RuntimeDep) -> ClusterList:
    return ClusterList(items=[cluster_public(c, runtime) for c in await org.clusters.all()])


@router.post("", status_code=status.HTTP_201_CREATED)
async def register_cluster(
    body: ClusterCreate, org: AdminScope, runtime: RuntimeDep
) -> ClusterRegistered:
    """Register a cluster; the answer carries its agent's token, shown this once."""
    registered = await clusters.register_cluster(org, body.name)
    return ClusterRegistered(
        cluster=cluster_public(registered.cluster, runtime), token=registered.token.plaintext
    )


@router.get("/{cluster}")
async def get_cluster(cluster: ClusterName, org: OrgScope, runtime: RuntimeDep) -> ClusterPublic:
    return cluster_public(await org.clusters.get(cluster), runtime)


@router.delete("/{cluster}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_cluster(cluster: ClusterName, org: AdminScope) -> None:
    await clusters.delete_cluster(org, cluster)


@router.get("/{cluster}/tokens")
async def list_cluster_tokens(cluster: ClusterName, org: AdminScope) -> ClusterTokenList:
    tokens = await clusters.cluster_tokens(org, cluster)
    return ClusterTokenList(items=[cluster_token_public(t) for t in tokens])


@router.post("/{cluster}/tokens/rotate")
async def rotate_cluster_token(
    cluster: ClusterName, body: TokenRotate, org: AdminScope, runtime: RuntimeDep
) -> TokenRotated:
    """A new token; the current ones keep working for the grace period, then are refused."""
    grace = timedelta(seconds=body.grace_seconds) if body.grace_seconds is not None else None
    rotated = await clusters.rotate_token(org, cluster, agent=runtime.settings.agent, grace=grace)
    return TokenRotated(
        token=rotated.token.plaintext,
        prefix=rotated.token.prefix,
        previous_valid_until=rotated.previous_valid_until,
    )


@router.post("/{cluster}/tokens/revoke")
async def revoke_cluster_tokens(
    cluster: ClusterName, body: TokenRevoke, org: AdminScope
) -> ClusterTokenList:
    """Revoke one token (by prefix) or all: refused from the next request on."""
    tokens = await clusters.revoke_tokens(org, cluster, prefix=body.prefix)
    return ClusterTokenList(items=[cluster_token_public(t) for t in tokens])
