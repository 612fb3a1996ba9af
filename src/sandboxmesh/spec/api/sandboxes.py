"""Sandboxes as the API shows them: the user's spec plus what the control plane knows."""

from __future__ import annotations

from datetime import datetime

from sandboxmesh.spec.api.base import ApiModel
from sandboxmesh.spec.sandbox import SandboxSpec
from sandboxmesh.spec.status import SandboxStatus


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


class SandboxList(ApiModel):
    items: list[SandboxPublic]
    #: Pass as `after` to get the next page; null on the last page.
    next: str | None
