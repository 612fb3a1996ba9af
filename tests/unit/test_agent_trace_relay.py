"""The agent's trace relay: what it reads from a route server's answer, when it stops
polling, and that it handles each trace id once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from sandboxmesh.agent.traces import TraceRelay, TraceRelaySettings, hops_from
from sandboxmesh.spec.protocol import TraceAck, TraceReport

TRACE = "ab" * 16


def raw_hop(service: str, **extra: Any) -> dict[str, Any]:
    return {
        "traceId": TRACE,
        "at": 1.5,
        "service": service,
        "router": "r",
        "decision": "baseline",
        "reason": "the request carried no routing key",
        "key": None,
        **extra,
    }


def test_hops_keep_the_protocols_fields_and_bounds() -> None:
    body = {
        "traceId": TRACE,
        "hops": [
            raw_hop("shop/a", newField=1),
            raw_hop("shop/b", reason="x" * 10_000),
            "nonsense",
            *(raw_hop(f"shop/{i}") for i in range(100)),
        ],
    }
    hops = hops_from(body)
    assert hops[0].service == "shop/a"
    assert "shop/b" not in [h.service for h in hops]
    assert len(hops) == 64
    assert hops_from({"hops": "no"}) == hops_from(None) == []


class FakeRouteServer:
    """Answers 404 until `appear` calls, then the hops so far (growing once)."""

    def __init__(self, appear: int, grow: int | None = None) -> None:
        self.calls = 0
        self.appear, self.grow = appear, grow

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls < self.appear:
            return httpx.Response(404, json={"code": "no_trace"})
        hops = [raw_hop("shop/front")]
        if self.grow is not None and self.calls >= self.grow:
            hops.append(raw_hop("shop/checkout", at=2.0))
        return httpx.Response(200, json={"traceId": TRACE, "hops": hops})


def relay(server: FakeRouteServer, posted: list[TraceReport], **timing: float) -> TraceRelay:
    async def post(report: TraceReport) -> TraceAck:
        posted.append(report)
        return TraceAck(stored=True)

    settings = TraceRelaySettings(
        "http://routes.test", **{"poll_seconds": 0.01, "settle_seconds": 0.05, **timing}
    )
    return TraceRelay(settings, post, transport=httpx.MockTransport(server))


async def test_it_waits_for_hops_then_until_they_settle() -> None:
    server = FakeRouteServer(appear=5, grow=8)
    posted: list[TraceReport] = []
    r = relay(server, posted)
    async with httpx.AsyncClient(
        base_url="http://routes.test", transport=httpx.MockTransport(server)
    ) as http:
        started = time.monotonic()
        hops = await r.collect(http, TRACE)
    assert [h.service for h in hops] == ["shop/front", "shop/checkout"]
    assert time.monotonic() - started < 2


async def test_nothing_reported_is_an_empty_answer_after_the_limit() -> None:
    server = FakeRouteServer(appear=10**9)
    r = relay(server, [], max_seconds=0.3)
    async with httpx.AsyncClient(
        base_url="http://routes.test", transport=httpx.MockTransport(server)
    ) as http:
        assert await r.collect(http, TRACE) == []
    assert server.calls > 5


async def test_each_trace_is_relayed_once() -> None:
    server = FakeRouteServer(appear=1)
    posted: list[TraceReport] = []
    r = relay(server, posted)
    running = asyncio.create_task(r.run())
    r.offer([TRACE, TRACE])
    r.offer([TRACE])
    for _ in range(200):
        if posted:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    running.cancel()
    assert [p.trace_id for p in posted] == [TRACE]
    assert [h.service for h in posted[0].hops] == ["shop/front"]
