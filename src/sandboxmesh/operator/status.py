"""Pure computation of a Sandbox's status from what the reconciler observed.

Conditions change only through `sandboxmesh.spec.conditions`; the top-level phase, reason and
message are derived from them, so they never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandboxmesh.operator.forks import DesiredFork, ForkError
from sandboxmesh.spec import (
    ConditionType,
    Fork,
    ForkStatus,
    Phase,
    Reason,
    SandboxStatus,
    conditions,
)
from sandboxmesh.spec.preview import PreviewUrl

#: Errors that need the user to change the spec (or the operator's settings): Failed.
#: BaselineNotFound is not among them: it heals by itself when the baseline appears.
PERMANENT = frozenset(
    {
        Reason.UNSUPPORTED_KIND,
        Reason.CONTAINER_NOT_FOUND,
        Reason.CONTAINER_NOT_NAMED,
        Reason.NAMESPACE_NOT_ALLOWED,
    }
)


#: A fork still rolling out, possibly held up by its Pods (it may heal: not Failed).
#: A sandbox's preview URLs and the problems of endpoints without one (None: no domain).
Previews = tuple[list[PreviewUrl], list[str] | None]

ROLLING_OUT = frozenset({Reason.FORKS_PROGRESSING, Reason.IMAGE_PULL_FAILED, Reason.FORK_CRASHING})
#: The kubelet's reasons for a container that waits on its image...
_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
#: ... and for one that cannot start or keeps exiting.
_CRASH_REASONS = frozenset(
    {"CrashLoopBackOff", "RunContainerError", "CreateContainerError", "CreateContainerConfigError"}
)


@dataclass(frozen=True)
class ForkObservation:
    """One fork as the reconciler found it: an error, or its desired and live Deployment
    (and, while it rolls out, its Pods)."""

    fork: Fork
    error: ForkError | None = None
    desired: DesiredFork | None = None
    deployment: dict[str, Any] | None = None
    pods: Sequence[dict[str, Any]] = ()


def pod_trouble(pods: Sequence[dict[str, Any]]) -> tuple[Reason, str] | None:
    """What holds a fork's Pods up that a person must act on, in the kubelet's words: an
    image that cannot be pulled, or a container that keeps exiting. None when nothing does
    (they may simply be starting)."""
    for pod in pods:
        status = pod.get("status") or {}
        for container in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]:
            name = container.get("name", "?")
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason, detail = waiting.get("reason", ""), waiting.get("message", "")
            if reason in _PULL_REASONS:
                image = container.get("image", "")
                return Reason.IMAGE_PULL_FAILED, _words(
                    f"container {name} cannot pull image {image} ({reason})", detail
                )
            exited = (container.get("lastState") or {}).get("terminated") or {}
            restarts = int(container.get("restartCount") or 0)
            if reason in _CRASH_REASONS or (exited and restarts and not container.get("ready")):
                how = (
                    f"exited with {exited.get('exitCode')} ({exited.get('reason') or 'Error'})"
                    if exited
                    else f"cannot start ({reason})"
                )
                return Reason.FORK_CRASHING, _words(
                    f"container {name} {how}, restarted {restarts} times", detail
                )
    return None


def _words(summary: str, detail: str) -> str:
    return f"{summary}: {detail[:300]}" if detail else summary


def rollout_complete(deployment: dict[str, Any] | None) -> tuple[int, bool]:
    """Ready replicas, and whether the latest template is fully rolled out and available.

    The same test as `kubectl rollout status`: the controller has seen the latest generation,
    every replica runs the latest template, no old replica is left, and all are available.
    """
    if deployment is None:
        return 0, False
    spec, status = deployment.get("spec", {}), deployment.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    wanted = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    complete = (
        int(status.get("observedGeneration") or 0) >= int(deployment["metadata"]["generation"])
        and updated == wanted
        and int(status.get("replicas") or 0) == updated
        and int(status.get("availableReplicas") or 0) == updated
        and ready >= wanted
    )
    return ready, complete


def fork_status(observation: ForkObservation) -> ForkStatus:
    fork_of = observation.fork.fork_of
    if observation.error is not None:
        return ForkStatus(
            fork_of=fork_of,
            reason=observation.error.reason,
            message=observation.error.message,
        )
    assert observation.desired is not None
    created = ForkStatus(
        fork_of=fork_of,
        baseline=observation.desired.snapshot,
        objects=observation.desired.object_refs(),
    )
    return with_rollout(created, observation.deployment, observation.pods)


def fork_deployment_name(fork: ForkStatus) -> str | None:
    """The fork Deployment among a fork's objects (None when the fork has none)."""
    return next((o.name for o in fork.objects if o.kind == "Deployment"), None)


def with_rollout(
    fork: ForkStatus, deployment: dict[str, Any] | None, pods: Sequence[dict[str, Any]] = ()
) -> ForkStatus:
    """A fork's status with the readiness of its live Deployment, and what holds its Pods
    up while it is not ready."""
    ready_replicas, complete = rollout_complete(deployment)
    where = f"Deployment {fork.fork_of.namespace}/{fork_deployment_name(fork)}"
    reason, message = Reason.FORKS_AVAILABLE, ""
    if not complete:
        reason, message = Reason.FORKS_PROGRESSING, f"{ready_replicas}/1 ready, rolling out"
        trouble = pod_trouble(pods)
        if trouble is not None:
            reason, message = trouble
        message = f"{where}: {message}"
    return fork.model_copy(
        update={
            "ready_replicas": ready_replicas,
            "ready": complete,
            "reason": reason,
            "message": message,
        }
    )


def sandbox_status(
    *,
    generation: int,
    routing_key: str,
    forks: Sequence[ForkStatus],
    previous: SandboxStatus | None,
    now: datetime,
    previews: Previews | None = None,
) -> SandboxStatus:
    """The whole status from each fork's status; conditions keep their transition times.

    `previews` are the preview URLs and the problems of the endpoints without one, when they
    were computed (a refresh of readiness keeps the previous ones), or ([], None) on a cluster
    without a preview domain.
    """
    errors = [
        f for f in forks if f.reason != Reason.FORKS_AVAILABLE and f.reason not in ROLLING_OUT
    ]
    progressing = [f for f in forks if f.reason in ROLLING_OUT]
    current = list(previous.conditions) if previous else []

    def mark(type_: ConditionType, ok: bool, reason: str, message: str) -> None:
        nonlocal current
        set_ = conditions.mark_true if ok else conditions.mark_false
        current = set_(current, type_, reason, message, now=now, observed_generation=generation)

    if errors:
        first = errors[0]
        mark(ConditionType.BASELINE_RESOLVED, False, first.reason, _join(errors))
        mark(ConditionType.FORKS_READY, False, Reason.BLOCKED, "a fork could not be computed")
        mark(ConditionType.READY, False, first.reason, first.message)
    else:
        mark(ConditionType.BASELINE_RESOLVED, True, Reason.BASELINE_FOUND, "")
        if progressing:
            message = _join(progressing)
            # A fork held up by its Pods names why; otherwise they are simply on their way.
            held = [f.reason for f in progressing if f.reason != Reason.FORKS_PROGRESSING]
            reason = held[0] if held else Reason.FORKS_PROGRESSING
            mark(ConditionType.FORKS_READY, False, reason, message)
            mark(ConditionType.READY, False, reason, message)
        else:
            mark(ConditionType.FORKS_READY, True, Reason.FORKS_AVAILABLE, "")
            mark(ConditionType.READY, True, Reason.READY, "")

    urls = previous.preview_urls if previous else []
    if previews is not None:
        urls, problems = previews
        if problems is not None:
            mark(
                ConditionType.PREVIEW_URLS,
                not problems,
                Reason.ENDPOINT_NOT_FOUND if problems else Reason.PREVIEW_URLS_ASSIGNED,
                "; ".join(problems),
            )

    ready_condition = conditions.find(current, ConditionType.READY)
    assert ready_condition is not None
    ready = ready_condition.status == "True"
    if ready:
        phase = Phase.READY
    elif errors and any(f.reason in PERMANENT for f in errors):
        phase = Phase.FAILED
    elif errors:
        phase = Phase.PENDING
    else:
        phase = Phase.PROVISIONING
    return SandboxStatus(
        phase=phase,
        ready=ready,
        reason=ready_condition.reason,
        message=ready_condition.message,
        routing_key=routing_key,
        observed_generation=generation,
        expires_at=previous.expires_at if previous else None,
        conditions=current,
        forks=forks,
        preview_urls=urls,
    )


def terminating_status(
    previous: SandboxStatus | None, generation: int, now: datetime
) -> SandboxStatus:
    """Deletion has begun: not Ready any more, so routing withdraws before objects go."""
    base = previous or SandboxStatus()
    current = conditions.mark_false(
        base.conditions,
        ConditionType.READY,
        Reason.TERMINATING,
        "the sandbox is being deleted; routes are withdrawn first",
        now=now,
        observed_generation=generation,
    )
    return base.model_copy(
        update={
            "phase": Phase.TERMINATING,
            "ready": False,
            "reason": Reason.TERMINATING,
            "message": "deleting fork objects",
            "conditions": current,
        }
    )


def _join(forks: Sequence[ForkStatus]) -> str:
    return "; ".join(f.message for f in forks if f.message)
