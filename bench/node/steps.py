"""Where the time of a Deployment's way to Ready goes: watch events, stamped as they arrive.

`Steps` watches one namespace's Deployments and Pods and the cluster's Sandboxes, each in a
thread of its own, and records for each *subject* (a Sandbox's name, or a bare Deployment's)
the first moment (time.monotonic) each step was seen. A Pod belongs to the subject named by
its `sandboxmesh.io/sandbox` label, else by its `app` label; a fork Deployment likewise.

The stamps are this process's receipt of watch events, so each includes the API server's
watch delivery (milliseconds here), the same for both paths the bench compares.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod

from sandboxmesh.kube import Sandbox
from sandboxmesh.spec.crd import LABEL_SANDBOX

#: The steps in the order a Deployment passes them; a Sandbox's path has two more.
POD_STEPS = ("deployment", "pod", "scheduled", "started", "pod_ready", "available")
SANDBOX_STEPS = ("sandbox", *POD_STEPS, "sandbox_ready")


def _subject(labels: dict[str, str] | None) -> str | None:
    labels = labels or {}
    return labels.get(LABEL_SANDBOX) or labels.get("app")


def _pod_steps(pod: Pod) -> Iterable[str]:
    yield "pod"
    if pod.spec is not None and pod.spec.nodeName:
        yield "scheduled"
    status = pod.status
    if status is None:
        return
    if any(c.state is not None and c.state.running for c in status.containerStatuses or []):
        yield "started"
    if any(c.type == "Ready" and c.status == "True" for c in status.conditions or []):
        yield "pod_ready"


class Steps:
    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self._kubeconfig, self._namespace = kubeconfig, namespace
        self._seen: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, args=(kind,), daemon=True)
            for kind in ("deployments", "pods", "sandboxes")
        ]

    def __enter__(self) -> Steps:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()  # the daemon threads end with their next event or the process

    def times(self, subject: str, since: float) -> dict[str, float]:
        """Seconds from `since` to each step `subject` was seen at."""
        with self._lock:
            seen = dict(self._seen.get(subject, {}))
        return {step: round(at - since, 3) for step, at in seen.items()}

    def _mark(self, subject: str | None, steps: Iterable[str]) -> None:
        now = time.monotonic()
        if subject is None:
            return
        with self._lock:
            seen = self._seen.setdefault(subject, {})
            for step in steps:
                seen.setdefault(step, now)

    def _watch(self, kind: str) -> None:
        client = Client(config=KubeConfig.from_file(self._kubeconfig))
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a dropped watch starts again
                self._events(client, kind)

    def _events(self, client: Client, kind: str) -> None:
        if kind == "sandboxes":
            for _, sandbox in client.watch(Sandbox):
                ready = (sandbox.status or {}).get("phase") == "Ready"
                steps = ["sandbox", "sandbox_ready"] if ready else ["sandbox"]
                self._mark(sandbox.metadata.name if sandbox.metadata else None, steps)
        elif kind == "deployments":
            for _, deployment in client.watch(Deployment, namespace=self._namespace):
                meta, status = deployment.metadata, deployment.status
                available = status is not None and (status.readyReplicas or 0) >= 1
                steps = ["deployment", "available"] if available else ["deployment"]
                self._mark(_subject(meta.labels if meta else None) or _name(meta), steps)
        else:
            for _, pod in client.watch(Pod, namespace=self._namespace):
                self._mark(_subject(pod.metadata.labels if pod.metadata else None), _pod_steps(pod))


def _name(meta: Any) -> str | None:
    return meta.name if meta is not None else None


def medians(rows: list[dict[str, float]], steps: tuple[str, ...]) -> dict[str, float]:
    """Each step's median over `rows` (in seconds from the start), for the steps all rows saw."""
    out = {}
    for step in steps:
        values = sorted(row[step] for row in rows if step in row)
        if len(values) == len(rows) and values:
            out[step] = values[len(values) // 2]
    return out
