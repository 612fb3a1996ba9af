"""The agent's watch of its Sandbox objects, on the shared list-then-watch loop (scripted API)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
from tests.support.eventually import eventually_async
from tests.unit.kube.scripted_api import ScriptedApi, sandbox

from sandboxmesh import kube
from sandboxmesh.agent import objects
from sandboxmesh.agent.metrics import AgentMetrics
from sandboxmesh.agent.reporter import StatusReporter
from sandboxmesh.agent.store import SandboxStore
from sandboxmesh.agent.sync import StatusWatcher
from sandboxmesh.backoff import Backoff
from sandboxmesh.spec.protocol import SandboxStatusReport, StatusAck, StatusReportBatch

FAST = kube.ListWatchSettings(retry_initial_seconds=0.01, retry_max_seconds=0.02)


def _ready(name: str, version: str = "1") -> dict[str, Any]:
    """An agent's Sandbox whose status describes its current spec (so it is reported)."""
    body = sandbox(name, version)
    body["metadata"] |= {
        "generation": 1,
        "labels": dict(objects.AGENT_LABELS),
        "annotations": {objects.ANNOTATION_GENERATION: "1"},
    }
    body["status"] = {"phase": "Ready", "ready": True, "observedGeneration": 1}
    return body


class RecordingReporter(StatusReporter):
    """Records what the watcher hands over; sends nothing (its loop never runs)."""

    def __init__(self) -> None:
        super().__init__(self._unused, AgentMetrics(), window=0, backoff=Backoff(0.1, 0.1))
        self.reported: list[str] = []
        self.gone_names: list[str] = []

    async def _unused(self, batch: StatusReportBatch) -> StatusAck:
        raise AssertionError("the watcher never sends")

    def report(self, report: SandboxStatusReport) -> None:
        self.reported.append(report.name)

    def gone(self, name: str) -> None:
        self.gone_names.append(name)


async def _watching(api: ScriptedApi, reporter: RecordingReporter) -> asyncio.Task[Any]:
    store = SandboxStore(api.client())
    return asyncio.create_task(StatusWatcher(store, reporter, settings=FAST).run())


async def test_a_sandbox_deleted_while_the_watch_was_cut_off_is_reported_gone() -> None:
    api = ScriptedApi(
        lists=[[_ready("pr-1"), _ready("pr-2")], [_ready("pr-1")]],
        watches=[[httpx2.RemoteProtocolError("peer closed connection without sending body")]],
    )
    reporter = RecordingReporter()
    task = await _watching(api, reporter)
    try:

        async def relisted() -> bool:
            return api.requests[:3] == ["list", "watch", "list"] and bool(reporter.gone_names)

        await eventually_async(relisted, timeout=5, what="a relist after the cut")
        assert sorted(reporter.reported) == ["pr-1", "pr-2"]  # pr-1's unchanged: once
        assert reporter.gone_names == ["pr-2"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_watch_events_report_changes_and_deletions() -> None:
    changed = _ready("pr-1", "2")
    changed["status"]["phase"] = "Failed"
    api = ScriptedApi(
        lists=[[_ready("pr-1")]],
        watches=[[("MODIFIED", changed), ("DELETED", changed)]],
    )
    reporter = RecordingReporter()
    task = await _watching(api, reporter)
    try:

        async def deleted() -> bool:
            return bool(reporter.gone_names)

        await eventually_async(deleted, timeout=5, what="the deletion reported")
        assert reporter.reported == ["pr-1", "pr-1"]
        assert reporter.gone_names == ["pr-1"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
