"""Bodies of the management API as the control plane answers them, for the client's tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydantic

from sandboxmesh.spec import SandboxSpec, SandboxStatus
from sandboxmesh.spec.api import (
    ClusterPublic,
    ClusterTokenPublic,
    ConnectionState,
    MemberPublic,
    OrganizationPublic,
    Plan,
    Role,
    SandboxPublic,
    TeamPublic,
    TokenPublic,
)

AT = datetime(2026, 12, 7, 12, 30, 15, 250000, tzinfo=UTC)
SANDBOX = SandboxPublic(
    name="pr-42",
    team="payments",
    cluster="staging",
    spec=SandboxSpec.model_validate(
        {"cluster": "staging", "forks": [{"forkOf": {"namespace": "shop", "name": "checkout"}}]}
    ),
    generation=2,
    routing_key="k0123456789",
    deleting=False,
    deletion_requested_at=None,
    created_by="dev@example.com",
    created_at=AT,
    updated_at=AT,
    status=SandboxStatus(routing_key="k0123456789", observed_generation=2, expires_at=AT),
)
CLUSTER = ClusterPublic(
    name="staging",
    connection=ConnectionState.CONNECTED,
    last_seen_at=AT,
    agent_version="0.1.0",
    revision=7,
    created_at=AT,
)
CLUSTER_TOKEN = ClusterTokenPublic(prefix="smc_ab", created_at=AT, expires_at=None, revoked_at=None)
TEAM = TeamPublic(name="payments", max_sandboxes=None, active_sandboxes=3, created_at=AT)
MEMBER = MemberPublic(
    email="dev@example.com",
    role=Role.MEMBER,
    teams=["payments"],
    default_team="payments",
    created_at=AT,
    status="pending",
    accepted_at=None,
)
TOKEN = TokenPublic(
    name="ci",
    prefix="smu_ab",
    member="dev@example.com",
    created_at=AT,
    expires_at=AT,
    revoked_at=None,
    last_used_at=None,
)
ORGANIZATION = OrganizationPublic(
    name="acme",
    plan=Plan.TEAM,
    max_sandboxes=None,
    effective_max_sandboxes=50,
    plan_max_sandboxes=50,
    active_sandboxes=3,
    created_at=AT,
)


def wire(body: pydantic.BaseModel) -> Any:
    """The body as the control plane puts it on the wire."""
    return body.model_dump(mode="json", by_alias=True)
