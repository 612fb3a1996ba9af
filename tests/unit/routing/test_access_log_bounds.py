"""The route server's access-log service against a hostile stream: anything in the cluster can
reach the xDS port, so what a log entry carries is bounded before it is kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from envoy.data.accesslog.v3 import accesslog_pb2
from envoy.service.accesslog.v3 import als_pb2

from sandboxmesh.routing.core import trace
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.upstreams import ServiceAddresses
from sandboxmesh.routing.metrics import RouteServerMetrics
from sandboxmesh.routing.state import RouteState
from sandboxmesh.routing.xds.access_log import AccessLogService
from sandboxmesh.spec.protocol import TraceHop

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def entry(**headers: str) -> accesslog_pb2.HTTPAccessLogEntry:
    logged = accesslog_pb2.HTTPAccessLogEntry()
    logged.common_properties.route_name = "baseline"
    logged.request.request_headers.update(
        {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01", "tracestate": "sandboxmesh=1",
         **headers}
    )  # fmt: skip
    return logged


def stream(log_name: str, node: str, *entries: accesslog_pb2.HTTPAccessLogEntry) -> list[trace.Hop]:
    service = AccessLogService(
        RouteState(KeyHeaders(), ServiceAddresses()), trace.TraceBuffer(), RouteServerMetrics()
    )
    message = als_pb2.StreamAccessLogsMessage()
    message.identifier.node.id = node
    message.identifier.log_name = log_name
    message.http_logs.log_entry.extend(entries)

    async def messages() -> AsyncIterator[als_pb2.StreamAccessLogsMessage]:
        yield message

    asyncio.run(service.StreamAccessLogs(messages(), None))
    return service.traces.get(TRACE)


def test_a_huge_key_is_kept_short_and_its_hop_still_fits_the_agent_protocol() -> None:
    (hop,) = stream("front|shop|cart|80", "router-1",
                    entry(**{"x-sandboxmesh-routing-key": "k" * 60_000}))  # fmt: skip
    assert hop.key is not None
    assert len(hop.key) <= trace.KEY_SHOWN_MAX
    assert hop.reason.startswith("no sandbox has the key kkkk")
    relayed = {k: v for k, v in hop.to_json().items() if k != "traceId"}
    TraceHop.model_validate(relayed)  # the agent relays each hop as this model


def test_entries_of_a_log_that_names_no_valid_service_are_dropped_and_node_ids_bounded() -> None:
    assert stream(f"front|{'a' * 300}|cart|80", "router-1", entry()) == []
    assert stream("front|Shop_1|cart|80", "router-1", entry()) == []
    (hop,) = stream("front|shop|cart|80", "r" * 10_000, entry())
    assert len(hop.router) <= 253
