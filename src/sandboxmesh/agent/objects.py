"""Pure translation between the agent protocol and Sandbox objects.

The Sandbox objects the agent writes are its state: a label marks them as the agent's, and an
annotation records the control-plane generation their spec came from, so a restarted agent
knows what it holds and which generation each status belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from sandboxmesh.spec import SandboxStatus
from sandboxmesh.spec.crd import API_VERSION, KIND, ROUTE_GROUP_KIND
from sandboxmesh.spec.protocol import Assignment, RouteGroupAssignment, SandboxStatusReport

FIELD_MANAGER = "sandboxmesh-agent"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_AGENT = "sandboxmesh-agent"
ANNOTATION_GENERATION = "sandboxmesh.io/generation"

AGENT_LABELS = {LABEL_MANAGED_BY: MANAGED_BY_AGENT}


def sandbox_object(assignment: Assignment) -> dict[str, Any]:
    """The Sandbox object an assignment asks for, to server-side apply."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": assignment.name,
            "labels": dict(AGENT_LABELS),
            "annotations": {ANNOTATION_GENERATION: str(assignment.generation)},
        },
        "spec": assignment.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def route_group_object(assignment: RouteGroupAssignment) -> dict[str, Any]:
    """The RouteGroup object an assignment asks for, to server-side apply (its status is the
    route server's)."""
    return {
        "apiVersion": API_VERSION,
        "kind": ROUTE_GROUP_KIND,
        "metadata": {
            "name": assignment.name,
            "labels": dict(AGENT_LABELS),
            "annotations": {ANNOTATION_GENERATION: str(assignment.generation)},
        },
        "spec": assignment.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def status_report(body: dict[str, Any]) -> SandboxStatusReport | None:
    """The report for a Sandbox object, once its status describes its current spec.

    None while the operator has not yet observed the object's latest generation (its status
    would be about an older spec), when the object carries no usable generation, or when its
    status is one no report may carry (a time out of range).
    """
    metadata = body.get("metadata") or {}
    raw_status = body.get("status")
    if not raw_status:
        return None
    try:
        control_plane_generation = int(metadata["annotations"][ANNOTATION_GENERATION])
        status = SandboxStatus.model_validate(raw_status)
        if status.observed_generation != metadata.get("generation"):
            return None
        # The report checks more than the status (its times): one the control plane would
        # refuse is not sent, or it would hold back the reports of every other sandbox.
        return SandboxStatusReport(
            name=metadata["name"], observed_generation=control_plane_generation, status=status
        )
    except (KeyError, TypeError, ValueError, ValidationError):
        return None


def to_prune(assigned: Iterable[str], held: Iterable[str]) -> set[str]:
    """Objects the agent holds that a full resync no longer assigns to this cluster."""
    return set(held) - set(assigned)
