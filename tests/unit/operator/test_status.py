"""The pure status computation: observations -> phase, conditions, reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sandboxmesh.operator.forks import DesiredFork, ForkError, SandboxIdentity, desired_fork
from sandboxmesh.operator.status import (
    ForkObservation,
    fork_status,
    pod_trouble,
    rollout_complete,
    sandbox_status,
    terminating_status,
    with_rollout,
)
from sandboxmesh.spec import Fork, Phase, Reason

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FORK = Fork.model_validate({"forkOf": {"namespace": "shop", "name": "checkout"}})
BASELINE: dict[str, Any] = {
    "metadata": {"name": "checkout", "namespace": "shop", "resourceVersion": "1", "generation": 1},
    "spec": {
        "template": {
            "metadata": {"labels": {"app": "checkout"}},
            "spec": {"containers": [{"name": "app", "image": "a"}]},
        }
    },
}


def _desired() -> DesiredFork:
    return desired_fork(SandboxIdentity("pr-1", "uid", "k" * 16), FORK, BASELINE, [])


def _deployment(
    generation: int = 1,
    observed: int = 1,
    ready: int = 1,
    updated: int = 1,
    replicas: int = 1,
    available: int = 1,
) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": observed,
            "readyReplicas": ready,
            "updatedReplicas": updated,
            "replicas": replicas,
            "availableReplicas": available,
        },
    }


def _status(observation: ForkObservation, previous: Any = None, now: datetime = T0) -> Any:
    return sandbox_status(
        generation=2,
        routing_key="k" * 16,
        forks=[fork_status(observation)],
        previous=previous,
        now=now,
    )


def test_rollout_complete_follows_kubectl_rollout_status() -> None:
    assert rollout_complete(_deployment()) == (1, True)
    assert rollout_complete(None) == (0, False)
    assert rollout_complete(_deployment(generation=2, observed=1))[1] is False
    assert rollout_complete(_deployment(replicas=2))[1] is False  # an old replica remains
    assert rollout_complete(_deployment(updated=0))[1] is False
    assert rollout_complete(_deployment(ready=0, available=0)) == (0, False)


def test_ready_when_every_fork_is_rolled_out() -> None:
    status = _status(ForkObservation(FORK, desired=_desired(), deployment=_deployment()))
    assert status.phase is Phase.READY
    assert status.ready is True
    assert status.reason == Reason.READY
    assert status.observed_generation == 2
    assert [(c.type, c.status) for c in status.conditions] == [
        ("BaselineResolved", "True"),
        ("ForksReady", "True"),
        ("Ready", "True"),
    ]
    assert status.forks[0].ready_replicas == 1


def test_provisioning_names_the_deployment_being_rolled_out() -> None:
    status = _status(ForkObservation(FORK, desired=_desired(), deployment=_deployment(ready=0)))
    assert status.phase is Phase.PROVISIONING
    assert status.reason == Reason.FORKS_PROGRESSING
    assert "Deployment shop/checkout-sbx-pr-1" in status.message


def test_baseline_not_found_is_pending_and_permanent_errors_fail() -> None:
    missing = ForkError(Reason.BASELINE_NOT_FOUND, "Deployment/shop/checkout: missing")
    status = _status(ForkObservation(FORK, error=missing))
    assert status.phase is Phase.PENDING
    assert status.reason == Reason.BASELINE_NOT_FOUND
    assert status.message == "Deployment/shop/checkout: missing"
    assert status.conditions[1].reason == Reason.BLOCKED
    unsupported = ForkError(Reason.UNSUPPORTED_KIND, "no")
    assert _status(ForkObservation(FORK, error=unsupported)).phase is Phase.FAILED


def test_transition_times_survive_a_reconcile_that_changes_nothing() -> None:
    observation = ForkObservation(FORK, desired=_desired(), deployment=_deployment())
    first = _status(observation)
    later = _status(observation, previous=first, now=T0 + timedelta(minutes=5))
    assert later == first


def test_terminating_withdraws_readiness() -> None:
    ready = _status(ForkObservation(FORK, desired=_desired(), deployment=_deployment()))
    terminating = terminating_status(ready, 2, T0 + timedelta(seconds=1))
    assert terminating.phase is Phase.TERMINATING
    assert terminating.ready is False
    ready_condition = next(c for c in terminating.conditions if c.type == "Ready")
    assert (ready_condition.status, ready_condition.reason) == ("False", Reason.TERMINATING)
    assert terminating.forks == ready.forks


def test_a_rollout_refresh_changes_readiness_and_nothing_else() -> None:
    progressing = _status(
        ForkObservation(FORK, desired=_desired(), deployment=_deployment(ready=0))
    )
    (fork,) = progressing.forks
    refreshed = with_rollout(fork, _deployment())
    assert refreshed.ready is True
    assert refreshed.ready_replicas == 1
    assert (refreshed.objects, refreshed.baseline) == (fork.objects, fork.baseline)
    ready = sandbox_status(generation=2, routing_key="k" * 16, forks=[refreshed],
                           previous=progressing, now=T0 + timedelta(seconds=3))  # fmt: skip
    assert ready.phase is Phase.READY
    full = _status(ForkObservation(FORK, desired=_desired(), deployment=_deployment()),
                   previous=progressing, now=T0 + timedelta(seconds=3))  # fmt: skip
    assert ready == full


def _pod(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"status": {"containerStatuses": list(containers)}}


PULL_BACKOFF = {
    "name": "app", "image": "registry.example.com/nope:1", "ready": False, "restartCount": 0,
    "state": {"waiting": {"reason": "ImagePullBackOff",
                          "message": 'Back-off pulling image "registry.example.com/nope:1"'}},
}  # fmt: skip
CRASHING = {
    "name": "app", "image": "checkout:1", "ready": False, "restartCount": 3,
    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}},
    "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
}  # fmt: skip
STARTING = {"name": "app", "image": "checkout:1", "ready": False, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}}}  # fmt: skip


def test_a_fork_whose_image_cannot_be_pulled_says_so_and_stays_provisioning() -> None:
    observation = ForkObservation(
        FORK, desired=_desired(), deployment=_deployment(ready=0), pods=[_pod(PULL_BACKOFF)]
    )
    status = _status(observation)
    assert status.phase is Phase.PROVISIONING  # a push of the image heals it
    assert status.reason == Reason.IMAGE_PULL_FAILED
    assert "cannot pull image registry.example.com/nope:1 (ImagePullBackOff)" in status.message
    (fork,) = status.forks
    assert fork.reason == Reason.IMAGE_PULL_FAILED
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", Reason.IMAGE_PULL_FAILED)


def test_a_fork_that_keeps_crashing_says_how_it_exits() -> None:
    observation = ForkObservation(
        FORK, desired=_desired(), deployment=_deployment(ready=0), pods=[_pod(CRASHING)]
    )
    status = _status(observation)
    assert status.reason == Reason.FORK_CRASHING
    assert "container app exited with 1 (Error), restarted 3 times" in status.message


def test_pods_that_are_only_starting_are_no_trouble() -> None:
    assert pod_trouble([_pod(STARTING)]) is None
    assert pod_trouble([{"status": {}}]) is None
    observation = ForkObservation(
        FORK, desired=_desired(), deployment=_deployment(ready=0), pods=[_pod(STARTING)]
    )
    assert _status(observation).reason == Reason.FORKS_PROGRESSING
    # A rolled-out fork is available whatever an old Pod says.
    rolled_out = ForkObservation(
        FORK, desired=_desired(), deployment=_deployment(), pods=[_pod(CRASHING)]
    )
    assert _status(rolled_out).phase is Phase.READY
