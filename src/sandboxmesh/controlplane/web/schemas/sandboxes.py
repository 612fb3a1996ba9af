"""Sandboxes as the API shows them, built from the stored records."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from sandboxmesh.controlplane.repository import records
from sandboxmesh.spec import Phase, SandboxSpec, SandboxStatus
from sandboxmesh.spec.api.sandboxes import SandboxList, SandboxPublic

__all__ = ["SandboxList", "SandboxPublic", "sandbox_public"]

log = logging.getLogger(__name__)


def _stored_status(sandbox: records.Sandbox) -> SandboxStatus:
    """The status as last reported; one stored before a rule of the model tightened (a preview
    URL's shape, say) is shown as not reported rather than failing every read of the sandbox:
    the agent's next report replaces it."""
    if sandbox.status is None:
        return SandboxStatus(routing_key=sandbox.routing_key)
    try:
        return SandboxStatus.model_validate(sandbox.status)
    except ValidationError as error:
        log.warning(
            "sandbox %s: its stored status does not parse (%d problems); shown as not reported",
            sandbox.name,
            error.error_count(),
        )
        return SandboxStatus(
            routing_key=sandbox.routing_key,
            message="the cluster's last report does not parse with this version of the control "
            "plane; its next report replaces it",
        )


def sandbox_public(sandbox: records.Sandbox) -> SandboxPublic:
    """The stored sandbox with its status as reported, and the fields only the store knows
    (expiry, routing key, phase) laid over it."""
    status = _stored_status(sandbox)
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
