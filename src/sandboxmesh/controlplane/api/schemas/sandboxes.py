"""Sandboxes as the API shows them: the user's spec plus what the control plane knows."""

from __future__ import annotations

from datetime import datetime

from sandboxmesh.controlplane.api.schemas.base import ApiModel
from sandboxmesh.controlplane.repository import records
from sandboxmesh.spec import Phase, SandboxSpec, SandboxStatus


class SandboxPublic(ApiModel):
    name: str
    team: str
    cluster: str
    spec: SandboxSpec
    #: Bumped by every change of the spec.
    generation: int
    routing_key: str
    #: Deletion was requested: the sandbox disappears once its agent confirms the removal.
    deleting: bool
    deletion_requested_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    status: SandboxStatus

    @classmethod
    def of(cls, sandbox: records.Sandbox) -> SandboxPublic:
        if sandbox.status is not None:
            status = SandboxStatus.model_validate(sandbox.status)
        else:
            status = SandboxStatus(routing_key=sandbox.routing_key)
        status = status.model_copy(
            update={
                "expires_at": sandbox.expires_at,
                "routing_key": sandbox.routing_key,
                "phase": Phase(sandbox.phase),
            }
        )
        return cls(
            name=sandbox.name,
            team=sandbox.team,
            cluster=sandbox.cluster,
            spec=SandboxSpec.model_validate(sandbox.spec),
            generation=sandbox.generation,
            routing_key=sandbox.routing_key,
            deleting=sandbox.deleting,
            deletion_requested_at=sandbox.deletion_requested_at,
            created_by=sandbox.created_by,
            created_at=sandbox.created_at,
            updated_at=sandbox.updated_at,
            status=status,
        )


class SandboxList(ApiModel):
    items: list[SandboxPublic]
    #: Pass as `after` to get the next page; null on the last page.
    next: str | None
