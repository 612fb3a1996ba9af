"""A Pod's status as a kubelet reports it, from the state of its local processes. Pure.

The Pod is Ready exactly when every container's process passed its readiness check and the
Pod is not being deleted; that is what makes a Deployment (and so a fork) Ready only once
its processes answer. A container whose process exited is restarted (restartPolicy is
treated as Always) and counts its restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class ContainerState:
    name: str
    image: str
    #: RFC 3339 time the current process started; None while none runs.
    running_since: str | None = None
    ready: bool = False
    restart_count: int = 0
    #: (reason, message) while no process runs.
    waiting: tuple[str, str] | None = None
    last_exit_code: int | None = None
    pid: int | None = None

    def status(self) -> Json:
        state: Json
        if self.running_since is not None:
            state = {"running": {"startedAt": self.running_since}}
        else:
            reason, message = self.waiting or ("ContainerCreating", "")
            state = {"waiting": {"reason": reason, "message": message}}
        status: Json = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": self.ready,
            "started": self.running_since is not None,
            "restartCount": self.restart_count,
            "state": state,
        }
        if self.pid is not None:
            status["containerID"] = f"local://{self.pid}"
        if self.last_exit_code is not None:
            status["lastState"] = {"terminated": {"exitCode": self.last_exit_code}}
        return status


def _condition(previous: Json, kind: str, ok: bool, now: str) -> Json:
    value = "True" if ok else "False"
    old = next((c for c in previous.get("conditions") or [] if c.get("type") == kind), None)
    since = old["lastTransitionTime"] if old and old.get("status") == value else now
    return {"type": kind, "status": value, "lastTransitionTime": since}


def pod_status(pod: Json, containers: Sequence[ContainerState], now: str) -> Json:
    """The Pod's whole `status` (a merge patch replaces lists, so it is sent entire)."""
    previous = pod.get("status") or {}
    deleting = pod.get("metadata", {}).get("deletionTimestamp") is not None
    running = any(c.running_since is not None for c in containers)
    containers_ready = bool(containers) and all(c.ready for c in containers)
    return {
        "phase": "Running" if running else "Pending",
        "startTime": previous.get("startTime") or now,
        "conditions": [
            _condition(previous, "PodScheduled", True, now),
            _condition(previous, "Initialized", True, now),
            _condition(previous, "ContainersReady", containers_ready, now),
            _condition(previous, "Ready", containers_ready and not deleting, now),
        ],
        "containerStatuses": [c.status() for c in containers],
    }
