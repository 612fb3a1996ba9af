"""Prometheus metrics of one app, on a registry of its own (several apps may share a process).

Several worker processes (`sandboxmesh server --workers N`) answer `/metrics` together:
the command points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory before the workers start,
so prometheus_client (which chooses its value store when it is imported) writes every
process's values to files there, and whichever worker a scrape reaches adds them all up.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_DIR_ENV))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sandboxmesh_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sandboxmesh_http_request_duration_seconds",
            "Time to answer an HTTP request (long-polls excluded).",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.sandboxes_created = Counter(
            "sandboxmesh_sandboxes_created", "Sandboxes created.", registry=self.registry
        )
        self.create_batch_size = Histogram(
            "sandboxmesh_sandbox_create_batch_size",
            "Creates sent to PostgreSQL in one statement (those of one organisation that "
            "arrived while its previous statement ran).",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.quota_rejections = Counter(
            "sandboxmesh_quota_rejections",
            "Creates refused by a quota, by the scope of the limit.",
            ["limit"],
            registry=self.registry,
        )
        self.policy_refusals = Counter(
            "sandboxmesh_policy_refusals",
            "Sandbox creates and updates refused by a lifetime policy, by the error's code.",
            ["code"],
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "sandboxmesh_webhook_deliveries",
            "GitHub webhook deliveries, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.long_polls = Gauge(
            "sandboxmesh_agent_long_polls_waiting",
            "Agent long-polls waiting for a change.",
            # Several processes: the sum over the live ones.
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.ttl_expired = Counter(
            "sandboxmesh_sandboxes_expired", "Sandboxes whose TTL ran out.", registry=self.registry
        )
        self.mails = Counter(
            "sandboxmesh_mails",
            "Mails handed to the SMTP server, by outcome (sent, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.sign_in_refusals = Counter(
            "sandboxmesh_sign_in_throttled",
            "Password tries and mails refused by a limit, by limit (address, account, mail, "
            "hashing).",
            ["limit"],
            registry=self.registry,
        )
        self.preview_authorizations = Counter(
            "sandboxmesh_preview_authorizations",
            "Preview authorize requests of signed-in members, by outcome (signed, bad_url, "
            "not_found).",
            ["outcome"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The text a scrape gets: this app's metrics, or every worker's added up."""
        if _multiprocess():
            _forget_killed_workers(os.environ[MULTIPROCESS_DIR_ENV])
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated upstream
            return generate_latest(registry)
        return generate_latest(self.registry)

    def process_stopped(self) -> None:
        """Drop this process's live gauges from the sum (its counters keep counting)."""
        if _multiprocess():
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # unannotated upstream


def _forget_killed_workers(directory: str) -> None:
    """Drop the live gauges of workers that died without stopping cleanly (SIGKILL, the OOM
    killer): only a clean stop marks a process dead, and uvicorn starts a replacement, so the
    dead one's waiting long-polls would otherwise stay in the sum until the server stops."""
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        if not _running(pid):
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]  # unannotated upstream


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
