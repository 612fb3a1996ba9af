"""Sandboxes as the API shows them, built from the stored records."""

from __future__ import annotations

from sandboxmesh.controlplane.repository import records
from sandboxmesh.spec import Phase, SandboxSpec, SandboxStatus
from sandboxmesh.spec.api.sandboxes import SandboxList, SandboxPublic

__all__ = ["SandboxList", "SandboxPublic", "sandbox_public"]


def sandbox_public(sandbox: records.Sandbox) -> SandboxPublic:
    """The stored sandbox with its status as reported, and the fields only the store knows
    (expiry, routing key, phase) laid over it."""
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
    return SandboxPublic(
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
