"""Status reports to the control plane: coalesced, batched, at most one in flight.

Changes accumulate in a map keyed by sandbox (a newer status replaces an older one), and one
task sends them: whatever arrives while a batch is in flight waits for the next. A failed
batch goes back into the map (unless something newer arrived meanwhile) and is retried with
backoff, so a control-plane outage loses no status: it is reported when the server returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sandboxmesh.agent.metrics import AgentMetrics
from sandboxmesh.backoff import Backoff
from sandboxmesh.client import errors
from sandboxmesh.spec.protocol import (
    MAX_BATCH,
    GoneConfirmation,
    SandboxStatusReport,
    StatusAck,
    StatusReportBatch,
)

log = logging.getLogger(__name__)

Send = Callable[[StatusReportBatch], Awaitable[StatusAck]]


class StatusReporter:
    def __init__(
        self, send: Send, metrics: AgentMetrics, *, window: float, backoff: Backoff
    ) -> None:
        self._send = send
        self.metrics = metrics
        self.window = window
        self.backoff = backoff
        self._reports: dict[str, SandboxStatusReport] = {}
        self._gone: set[str] = set()
        self._dirty = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def report(self, report: SandboxStatusReport) -> None:
        self._reports[report.name] = report
        self._gone.discard(report.name)
        self._changed()

    def gone(self, name: str) -> None:
        self._gone.add(name)
        self._reports.pop(name, None)
        self._changed()

    @property
    def pending(self) -> int:
        return len(self._reports) + len(self._gone)

    async def drained(self) -> None:
        """Wait until nothing is pending or in flight."""
        await self._idle.wait()

    def _changed(self) -> None:
        self._idle.clear()
        self._dirty.set()
        self.metrics.pending.set(self.pending)

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            # A short window lets a burst of changes (a rollout, a resync) go as one batch.
            await asyncio.sleep(self.window)
            self._dirty.clear()
            reports = dict(list(self._reports.items())[:MAX_BATCH])
            gone = set(list(self._gone)[:MAX_BATCH])
            for name in reports:
                del self._reports[name]
            self._gone -= gone
            batch = StatusReportBatch(
                reports=list(reports.values()),
                gone=[GoneConfirmation(name=n) for n in sorted(gone)],
            )
            try:
                ack = await self._send(batch)
            except errors.ClientError as error:
                self.metrics.reports.labels(result="error").inc()
                self._restore(reports, gone)
                delay = self.backoff.next_delay()
                log.warning(
                    "reporting %d statuses failed (%s); retrying in %.1fs",
                    len(reports) + len(gone),
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            self.backoff.reset()
            self.metrics.reports.labels(result="ok").inc()
            for ignored in ack.ignored:
                log.info(
                    "the control plane ignored the report for %s: %s", ignored.name, ignored.reason
                )
            if self.pending:
                self._dirty.set()
            else:
                self._idle.set()
            self.metrics.pending.set(self.pending)

    def _restore(self, reports: dict[str, SandboxStatusReport], gone: set[str]) -> None:
        for name, report in reports.items():
            if name not in self._reports and name not in self._gone:
                self._reports[name] = report
        for name in gone:
            if name not in self._reports:
                self._gone.add(name)
        self._dirty.set()
