"""Relaying route traces: the control plane asks (through the long-poll), the route server
knows, the agent carries the answer back.

The control plane never connects into the cluster, so for each trace request it hands out
(`AssignmentBatch.trace_requests`) the agent reads the route server's
`GET /v1/traces/{id}`: every `poll_seconds`; once hops appear, until they are unchanged for
`settle_seconds` (a request's later hops are logged a little after its first); `max_seconds`
at most. It then posts them, or an empty list when no router reported the request, and
handles each trace id once (a resync hands out the pending ones again).

What it fails to reach (the route server, the control plane) it logs and moves on: a trace is
a user's one-off question, not state to converge. An error of its own ends `run`, which the
agent's supervisor turns into a failed /readyz and a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic

from sandboxmesh.client import errors
from sandboxmesh.spec.protocol import MAX_TRACE_HOPS, TraceAck, TraceHop, TraceReport

log = logging.getLogger(__name__)

#: Trace ids remembered as handled (a resync repeats the pending ones).
_REMEMBERED = 1000
#: Traces relayed at once; the control plane lets a cluster have 20 pending.
_AT_ONCE = 20
_HOP_FIELDS = set(TraceHop.model_fields) | {
    f.alias for f in TraceHop.model_fields.values() if f.alias
}


@dataclass(frozen=True)
class TraceRelaySettings:
    #: The route server's HTTP API (chart: http://<release>-route-server.<ns>.svc...:8081).
    route_server_url: str
    poll_seconds: float = 0.2
    settle_seconds: float = 0.5
    max_seconds: float = 10.0


def hops_from(body: Any) -> list[TraceHop]:
    """The hops of a route server's trace answer, as the protocol carries them: the fields it
    knows (a newer route server may add some), at most `MAX_TRACE_HOPS`; a hop that does not
    fit the protocol's bounds is dropped with a warning rather than failing the whole trace."""
    found = body.get("hops") if isinstance(body, dict) else None
    hops: list[TraceHop] = []
    for raw in found if isinstance(found, list) else []:
        if not isinstance(raw, dict):
            continue
        try:
            hops.append(TraceHop.model_validate({k: v for k, v in raw.items() if k in _HOP_FIELDS}))
        except pydantic.ValidationError as error:
            log.warning("dropping a hop the protocol cannot carry: %s", error.errors()[0]["msg"])
        if len(hops) == MAX_TRACE_HOPS:
            break
    return hops


class TraceRelay:
    def __init__(
        self,
        settings: TraceRelaySettings,
        post: Callable[[TraceReport], Awaitable[TraceAck]],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.post = post
        self.transport = transport
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._seen: OrderedDict[str, None] = OrderedDict()
        #: How many traces were posted (for tests and logs).
        self.relayed = 0

    def offer(self, trace_ids: Iterable[str]) -> None:
        """Relay these (those not handled yet); returns at once."""
        for trace_id in trace_ids:
            if trace_id in self._seen:
                continue
            self._seen[trace_id] = None
            while len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)
            self._queue.put_nowait(trace_id)

    async def run(self) -> None:
        """Relay offered traces until cancelled, up to `_AT_ONCE` at a time."""
        slots = asyncio.Semaphore(_AT_ONCE)
        async with (
            httpx.AsyncClient(
                base_url=self.settings.route_server_url, timeout=5.0, transport=self.transport
            ) as http,
            asyncio.TaskGroup() as group,
        ):
            while True:
                trace_id = await self._queue.get()
                await slots.acquire()
                task = group.create_task(self._relay(http, trace_id), name=f"trace {trace_id}")
                task.add_done_callback(lambda _: slots.release())

    async def _relay(self, http: httpx.AsyncClient, trace_id: str) -> None:
        hops = await self.collect(http, trace_id)
        try:
            ack = await self.post(TraceReport(trace_id=trace_id, hops=hops))
        except errors.ClientError as error:
            log.warning("could not report trace %s to the control plane: %s", trace_id, error)
            return
        self.relayed += 1
        log.info(
            "relayed trace %s (%d hops%s)",
            trace_id,
            len(hops),
            "" if ack.stored else f"; ignored: {ack.ignored}",
        )

    async def collect(self, http: httpx.AsyncClient, trace_id: str) -> list[TraceHop]:
        """The route server's hops for `trace_id`, once they stopped changing (see module)."""
        settings = self.settings
        started = time.monotonic()
        last: list[TraceHop] = []
        changed_at = started
        failed = False
        while time.monotonic() - started < settings.max_seconds:
            try:
                response = await http.get(f"/v1/traces/{trace_id}")
                hops = hops_from(response.json()) if response.status_code == 200 else []
            except (httpx.HTTPError, ValueError) as error:
                if not failed:
                    log.warning("cannot read trace %s from the route server: %s", trace_id, error)
                failed = True
                hops = last
            now = time.monotonic()
            if hops != last:
                last, changed_at = hops, now
            elif last and now - changed_at >= settings.settle_seconds:
                break
            await asyncio.sleep(settings.poll_seconds)
        return last
