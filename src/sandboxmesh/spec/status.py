"""Sandbox status, the same in the API and on the CR (DESIGN.md §2).

Numbers and booleans are strict (`"5"` is not 5, `1` is not true), as everywhere a client
sends them.

Conditions follow the Kubernetes convention: a list keyed by type. Types and reasons are
named constants here; they change only through `conditions.set_condition`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, StrictBool, StrictInt

from sandboxmesh.spec import names
from sandboxmesh.spec.model import SpecModel
from sandboxmesh.spec.preview import PreviewUrl
from sandboxmesh.spec.sandbox import MAX_ENDPOINTS, ForkRef


class Phase(StrEnum):
    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    FAILED = "Failed"
    TERMINATING = "Terminating"


class ConditionType(StrEnum):
    #: The baseline workload of every fork was found and snapshotted.
    BASELINE_RESOLVED = "BaselineResolved"
    #: Every fork Deployment has its ready replica.
    FORKS_READY = "ForksReady"
    #: The sandbox serves requests carrying its routing key.
    READY = "Ready"
    #: Every endpoint has its preview URL (only where the cluster has a preview domain).
    PREVIEW_URLS = "PreviewUrls"


class Reason(StrEnum):
    """Machine-readable reasons, shared by conditions and `status.reason`."""

    #: Nothing has reconciled the sandbox yet.
    PENDING = "Pending"
    #: Every baseline was read.
    BASELINE_FOUND = "BaselineFound"
    #: A baseline named by a fork does not exist (recovers when it appears).
    BASELINE_NOT_FOUND = "BaselineNotFound"
    #: A fork names a kind the operator cannot fork.
    UNSUPPORTED_KIND = "UnsupportedKind"
    #: A customization names a container the Pod template does not have.
    CONTAINER_NOT_FOUND = "ContainerNotFound"
    #: A customization names no container, and the Pod template has several.
    CONTAINER_NOT_NAMED = "ContainerNotNamed"
    #: A fork targets a namespace the operator may not fork in.
    NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
    #: The Sandbox object does not satisfy the spec models (written around the API).
    INVALID_SPEC = "InvalidSpec"
    #: Fork objects exist and wait for their Pods.
    FORKS_PROGRESSING = "ForksProgressing"
    #: A fork's Pod cannot pull its image (the kubelet retries: pushing the image heals it).
    IMAGE_PULL_FAILED = "ImagePullFailed"
    #: A fork's container keeps exiting, or cannot be started (CrashLoopBackOff and kin).
    FORK_CRASHING = "ForkCrashing"
    #: Every fork has its ready replica.
    FORKS_AVAILABLE = "ForksAvailable"
    #: The sandbox is ready.
    READY = "Ready"
    #: Deletion has started; routes are withdrawn before the objects go.
    TERMINATING = "Terminating"
    #: The cluster API refused or failed a request; retried with backoff.
    API_ERROR = "ApiError"
    #: A condition could not be evaluated because an earlier one failed.
    BLOCKED = "Blocked"
    #: Every endpoint has its preview URL.
    PREVIEW_URLS_ASSIGNED = "PreviewUrlsAssigned"
    #: An endpoint names a Service that does not exist, or has no port.
    ENDPOINT_NOT_FOUND = "EndpointNotFound"


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(SpecModel):
    type: str = Field(min_length=1, max_length=316)
    status: ConditionStatus
    reason: str = Field(default="", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime
    observed_generation: StrictInt | None = Field(default=None, ge=0)


class ObjectRef(SpecModel):
    """An object created for a fork."""

    api_version: str
    kind: str
    namespace: str
    name: str
    #: The name of the baseline object (same kind and namespace) this object copies: for a
    #: fork Service, the baseline Service whose traffic the routing layer may divert to it.
    baseline: str | None = None


class BaselineSnapshot(SpecModel):
    """The baseline Deployment as it was when the fork was computed."""

    resource_version: str
    generation: StrictInt
    pod_template_hash: str


class ForkStatus(SpecModel):
    fork_of: ForkRef
    baseline: BaselineSnapshot | None = None
    objects: list[ObjectRef] = Field(default_factory=list)
    ready_replicas: StrictInt = Field(default=0, ge=0)
    ready: StrictBool = False
    reason: str = ""
    message: str = ""


class SandboxStatus(SpecModel):
    phase: Phase = Phase.PENDING
    ready: StrictBool = False
    reason: str = Reason.PENDING
    message: str = ""
    routing_key: names.RoutingKey | None = None
    observed_generation: StrictInt | None = Field(default=None, ge=0)
    expires_at: datetime | None = None
    conditions: list[Condition] = Field(default_factory=list)
    forks: list[ForkStatus] = Field(default_factory=list)
    #: Where the sandbox's endpoints answer through the preview gateway (spec/preview.py);
    #: empty when the cluster has no preview domain.
    preview_urls: list[PreviewUrl] = Field(default_factory=list, max_length=MAX_ENDPOINTS)


def times(status: SandboxStatus) -> Iterator[tuple[str, datetime]]:
    """Every time a status holds, with where it is (`conditions.0.lastTransitionTime`)."""
    if status.expires_at is not None:
        yield "expiresAt", status.expires_at
    for index, condition in enumerate(status.conditions):
        yield f"conditions.{index}.lastTransitionTime", condition.last_transition_time


def time_problem(moment: datetime) -> str | None:
    """Why `moment` cannot be a status time, or None.

    A status time names its UTC offset (Kubernetes writes them so) and is a time in UTC too:
    `0001-01-01T00:00:00+23:59` parses, but is before year 1 in UTC, so that no code that
    shows it (in UTC) or compares it can.
    """
    if moment.utcoffset() is None:
        return "needs a UTC offset (Z or +hh:mm)"
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return "is out of range in UTC"
    return None
