"""The agent protocol (docs/agent-protocol.md): the wire models between agent and control plane.

They live in the spec layer so the agent depends on them without importing the control plane.
Every call carries `Authorization: Bearer <cluster token>` and the agent's version in
`X-SandboxMesh-Agent-Version`.

- `GET  /api/v1/agent/assignments?since=R&wait=S` -> `AssignmentBatch`
- `POST /api/v1/agent/status` with `StatusReportBatch` -> `StatusAck`
"""

from __future__ import annotations

from pydantic import Field, StrictBool, StrictInt, field_validator

from sandboxmesh.spec import names
from sandboxmesh.spec.crd import SandboxResourceSpec
from sandboxmesh.spec.sandbox import SpecModel
from sandboxmesh.spec.status import SandboxStatus, time_problem, times

ASSIGNMENTS_PATH = "/api/v1/agent/assignments"
STATUS_PATH = "/api/v1/agent/status"
AGENT_VERSION_HEADER = "X-SandboxMesh-Agent-Version"
#: The most items one status batch may carry (reports and gone confirmations together).
MAX_BATCH = 500


class Assignment(SpecModel):
    """One sandbox the agent should hold as a `Sandbox` object, or remove when `deleting`."""

    name: names.SandboxName
    #: Bumped by the control plane at every spec change: the agent reports it back as
    #: `observedGeneration` once the CR carries that spec.
    generation: StrictInt = Field(ge=1)
    #: The user deleted the sandbox (or its TTL ran out): remove the CR, then confirm `gone`.
    deleting: StrictBool = False
    #: What to write as the CR's `.spec`: the user's spec plus the issued routing key.
    spec: SandboxResourceSpec


class AssignmentBatch(SpecModel):
    """The answer to a long-poll.

    `revision` is the cluster's revision the batch brings the agent to: pass it as `since`
    next time. With `resync` true, `assignments` is the complete set: anything the agent holds
    that is not in it is no longer assigned and should be pruned. Otherwise it holds only the
    sandboxes changed since the revision the agent passed; empty when the wait ran out.
    """

    revision: StrictInt = Field(ge=0)
    resync: StrictBool
    assignments: list[Assignment] = Field(default_factory=list)


class SandboxStatusReport(SpecModel):
    """The status of one Sandbox CR as the cluster sees it."""

    name: names.SandboxName
    #: The control-plane generation the CR's spec corresponds to.
    observed_generation: StrictInt = Field(ge=1)
    #: Its times name their offset and are times in UTC as well (`time_problem`).
    status: SandboxStatus

    @field_validator("status", mode="after")
    @classmethod
    def _times_in_range(cls, reported: SandboxStatus) -> SandboxStatus:
        # Checked here, where a status arrives, rather than on SandboxStatus itself: statuses
        # already stored or on a CR are still read (and shown as well as they can be).
        for where, moment in times(reported):
            problem = time_problem(moment)
            if problem is not None:
                raise ValueError(f"{where} {problem}")
        return reported


class GoneConfirmation(SpecModel):
    """The agent removed the Sandbox CR of a sandbox that was assigned with `deleting`."""

    name: names.SandboxName


class StatusReportBatch(SpecModel):
    reports: list[SandboxStatusReport] = Field(default_factory=list, max_length=MAX_BATCH)
    gone: list[GoneConfirmation] = Field(default_factory=list, max_length=MAX_BATCH)


class IgnoredReport(SpecModel):
    name: str
    #: `unknown` (no such sandbox on this cluster), `stale` (an older generation than the
    #: last report, or a future one) or `not_deleting` (a gone confirmation for a live sandbox).
    reason: str


class StatusAck(SpecModel):
    accepted: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    ignored: list[IgnoredReport] = Field(default_factory=list)
