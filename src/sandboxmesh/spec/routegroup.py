"""Route groups: one routing key across the sandboxes whose labels a selector matches.

A request with the group's key reaches, at each hop, the fork of whichever member sandbox
forks that hop's baseline. Two members forking the same baseline is a conflict: the group
reports it (condition `Conflict`, and `status.conflicts` naming both) and that baseline gets
requests with the group's key, never either fork, until it is resolved.

These models are the single source of the API's bodies, the agent protocol's and the
`RouteGroup` CRD's schema (`sandboxmesh.spec.crd`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import Field

from sandboxmesh.spec import names
from sandboxmesh.spec.model import SpecModel
from sandboxmesh.spec.sandbox import ForkRef, LabelKey, LabelValue, Ttl
from sandboxmesh.spec.status import Condition

MAX_MATCH_LABELS = 16


class LabelSelector(SpecModel):
    """Sandboxes whose `spec.labels` hold every one of `matchLabels` (at least one)."""

    match_labels: dict[LabelKey, LabelValue] = Field(min_length=1, max_length=MAX_MATCH_LABELS)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.match_labels.items())


class RouteGroupSpec(SpecModel):
    """What a user asks for; the control plane stores it as intent."""

    cluster: names.DnsLabel
    description: str = Field(default="", max_length=1024)
    selector: LabelSelector
    ttl: Ttl | None = None


class RouteGroupManifest(SpecModel):
    """The document users write in YAML or JSON: a name and a spec."""

    name: names.SandboxName
    spec: RouteGroupSpec


class RouteGroupResourceSpec(SpecModel):
    """The spec of the RouteGroup CR: the selector, and the key the control plane issued."""

    description: str = Field(default="", max_length=1024)
    selector: LabelSelector
    routing_key: names.RoutingKey = Field(
        description="The key that routes a request to the forks of the group's members."
    )


class RouteGroupConditionType(StrEnum):
    #: Two or more members fork the same baseline (True), or none do (False).
    CONFLICT = "Conflict"


class RouteGroupReason(StrEnum):
    #: Members fork the same baseline: requests with the group's key get the baseline there.
    SAME_BASELINE_FORKED = "SameBaselineForked"
    #: Every baseline forked by a member is forked by that member alone.
    NO_CONFLICT = "NoConflict"


class GroupConflict(SpecModel):
    """A baseline that several members fork; the group's key reaches neither fork there."""

    baseline: ForkRef
    sandboxes: list[names.DnsSubdomain] = Field(min_length=2)

    def message(self) -> str:
        return (
            f"{self.baseline} is forked by sandboxes {' and '.join(self.sandboxes)}: "
            "requests with the group's key go to the baseline there until one of them "
            "leaves the group"
        )


class RouteGroupStatus(SpecModel):
    """Written by the route server, from the Sandbox objects it watches."""

    #: Member sandboxes, by name (those not being deleted whose labels match).
    members: list[names.DnsSubdomain] = Field(default_factory=list)
    conflicts: list[GroupConflict] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = Field(default=None, ge=0)
