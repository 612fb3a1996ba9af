"""Envoy's gRPC access-log service: routers' logs of traced requests become route-trace hops.

Routers send only requests whose `tracestate` holds our member (their access-log filter), so
this stream is quiet unless somebody traces. The first message of a stream names the router
(its node id) and the log (`log_name`: the front's name, so the Service); every entry is one
request's route decision.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from envoy.data.accesslog.v3 import accesslog_pb2
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc

from sandboxmesh.routing.core import gateway as preview_gateway
from sandboxmesh.routing.core import trace
from sandboxmesh.routing.core.table import ServiceRef
from sandboxmesh.routing.metrics import RouteServerMetrics
from sandboxmesh.routing.state import RouteState
from sandboxmesh.spec import names

log = logging.getLogger(__name__)


#: A router's node id is its Pod name; anything longer is not one of ours.
ROUTER_MAX = 253
_LABEL = re.compile(names.DNS_LABEL_PATTERN)
#: The "namespace" a preview gateway's hops are shown under, the host they were for as the name.
GATEWAY_SERVICE = "preview-gateway"
#: At most as long as a trace report's `service` allows with the prefix (spec.protocol.TraceHop).
_HOST = re.compile(r"[A-Za-z0-9.-]{1,238}")


def front_service(log_name: str) -> ServiceRef | None:
    """The Service of a front's name (`front|NAMESPACE|SERVICE|PORT`), None if not one
    (the xDS port is reachable in the cluster: a stream may name anything)."""
    parts = log_name.split("|")
    if len(parts) != 4 or parts[0] != "front":
        return None
    if not all(len(p) <= 63 and _LABEL.fullmatch(p) for p in parts[1:3]):
        return None
    return ServiceRef(parts[1], parts[2])


class AccessLogService(als_pb2_grpc.AccessLogServiceServicer):  # type: ignore[misc]
    def __init__(
        self, state: RouteState, traces: trace.TraceBuffer, metrics: RouteServerMetrics
    ) -> None:
        self.state, self.traces, self.metrics = state, traces, metrics

    async def StreamAccessLogs(
        self, request_iterator: AsyncIterator[als_pb2.StreamAccessLogsMessage], context: Any
    ) -> als_pb2.StreamAccessLogsResponse:
        router, service, gateway = "", None, False
        async for message in request_iterator:
            if message.HasField("identifier"):
                router = message.identifier.node.id[:ROUTER_MAX]
                service = front_service(message.identifier.log_name)
                gateway = message.identifier.log_name == preview_gateway.TRACE_LOG
            for entry in message.http_logs.log_entry:
                if gateway:
                    self._record_gateway(entry, router)
                elif service is not None:
                    self._record(entry, router, service)
                # else: not a log of ours, nothing to attribute its entries to
        return als_pb2.StreamAccessLogsResponse()

    def _record_gateway(self, entry: accesslog_pb2.HTTPAccessLogEntry, router: str) -> None:
        """A preview gateway's hop: the host it served (as `preview-gateway/<host>`) and the
        sandbox (or group) whose key it set, or why it forwarded nothing."""
        host = entry.request.authority.rpartition(":")[0] or entry.request.authority
        if not _HOST.fullmatch(host):
            return  # not a host the gateway can have served: nothing worth keeping
        common = entry.common_properties
        decision, reason = trace.gateway_decision(
            common.route_name, entry.response.response_code.value
        )
        self._add(entry, router, ServiceRef(GATEWAY_SERVICE, host.lower()), decision, reason)

    def _record(
        self, entry: accesslog_pb2.HTTPAccessLogEntry, router: str, service: ServiceRef
    ) -> None:
        headers = dict(entry.request.request_headers)
        trace_id = trace.trace_id(headers.get(trace.TRACEPARENT_HEADER))
        if trace_id is None or not trace.traced(headers.get(trace.TRACESTATE_HEADER)):
            return
        key = trace.carried_key(headers, self.state.headers)
        decision, reason = trace.decide(
            entry.common_properties.route_name, key, service, self.state.table
        )
        self._add(entry, router, service, decision, reason)

    def _add(
        self,
        entry: accesslog_pb2.HTTPAccessLogEntry,
        router: str,
        service: ServiceRef,
        decision: str,
        reason: str,
    ) -> None:
        headers = dict(entry.request.request_headers)
        trace_id = trace.trace_id(headers.get(trace.TRACEPARENT_HEADER))
        if trace_id is None or not trace.traced(headers.get(trace.TRACESTATE_HEADER)):
            return
        before = self.traces.dropped
        self.traces.add(
            trace.Hop(
                trace_id=trace_id,
                at=entry.common_properties.start_time.ToMicroseconds() / 1e6,
                service=service,
                router=router,
                decision=decision,
                reason=reason,
                key=trace.carried_key(headers, self.state.headers),
            )
        )
        self.metrics.trace_hops.inc()
        if self.traces.dropped > before:
            self.metrics.trace_hops_dropped.inc(self.traces.dropped - before)
