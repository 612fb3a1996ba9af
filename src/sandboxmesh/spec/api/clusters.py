"""Clusters and their agent tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field, StrictInt

from sandboxmesh.spec import names
from sandboxmesh.spec.api.base import ApiModel, ApiRequest


# Whether a cluster's agent was heard from lately, as the control plane derives it. (No
# docstring: it would become the schema's description in the OpenAPI document.)
class ConnectionState(StrEnum):
    CONNECTED = "connected"
    STALE = "stale"
    NEVER_CONNECTED = "never-connected"


class ClusterCreate(ApiRequest):
    name: names.DnsLabel


class ClusterPublic(ApiModel):
    name: str
    connection: ConnectionState
    last_seen_at: datetime | None
    agent_version: str | None
    revision: int
    created_at: datetime


class ClusterList(ApiModel):
    items: list[ClusterPublic]


class ClusterTokenPublic(ApiModel):
    prefix: str
    created_at: datetime
    #: Set by a rotation: the token works until then.
    expires_at: datetime | None
    revoked_at: datetime | None


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
