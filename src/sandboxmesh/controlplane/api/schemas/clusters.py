"""Clusters and their agent tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field, StrictInt

from sandboxmesh.controlplane.api.schemas.base import ApiModel, ApiRequest
from sandboxmesh.controlplane.domain.connection import ConnectionState, connection_state
from sandboxmesh.controlplane.repository import records
from sandboxmesh.spec import names


class ClusterCreate(ApiRequest):
    name: names.DnsLabel


class ClusterPublic(ApiModel):
    name: str
    connection: ConnectionState
    last_seen_at: datetime | None
    agent_version: str | None
    revision: int
    created_at: datetime

    @classmethod
    def of(
        cls, cluster: records.Cluster, *, now: datetime, stale_after: timedelta
    ) -> ClusterPublic:
        return cls(
            name=cluster.name,
            connection=connection_state(cluster.last_seen_at, now=now, stale_after=stale_after),
            last_seen_at=cluster.last_seen_at,
            agent_version=cluster.agent_version,
            revision=cluster.revision,
            created_at=cluster.created_at,
        )


class ClusterList(ApiModel):
    items: list[ClusterPublic]


class ClusterTokenPublic(ApiModel):
    prefix: str
    created_at: datetime
    #: Set by a rotation: the token works until then.
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: records.ClusterToken) -> ClusterTokenPublic:
        return cls(
            prefix=token.prefix,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
        )


class ClusterTokenList(ApiModel):
    items: list[ClusterTokenPublic]


class ClusterRegistered(ApiModel):
    cluster: ClusterPublic
    #: The agent's bootstrap token: shown this once, never again.
    token: str


class TokenRotate(ApiRequest):
    #: How long the current tokens keep working; the server's default when omitted.
    grace_seconds: StrictInt | None = Field(default=None, ge=0, le=30 * 86400)


class TokenRotated(ApiModel):
    token: str
    prefix: str
    previous_valid_until: datetime


class TokenRevoke(ApiRequest):
    #: Revoke only this token; all of the cluster's tokens when omitted.
    prefix: str | None = Field(default=None, max_length=32)
