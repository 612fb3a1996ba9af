"""The ADS gRPC service: one state-of-the-world stream per Envoy, pushed on every table change.

Thin I/O around `stream.StreamState`: a reader task turns Envoy's requests into events,
another turns route-state changes into events, and the stream sends whatever
`StreamState.next_response` says is due after each event.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

import grpc
from envoy.service.accesslog.v3 import als_pb2_grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import json_format

from sandboxmesh.routing.core import fronts as fronts_module
from sandboxmesh.routing.metrics import RouteServerMetrics
from sandboxmesh.routing.state import RouteState
from sandboxmesh.routing.xds.stream import TYPE_NAMES, RequestOutcome, StreamState

log = logging.getLogger(__name__)


class _Event(Enum):
    CHANGED = "changed"
    CLOSED = "closed"


@dataclass
class ConnectedNode:
    node_id: str
    stream: StreamState
    connected_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "connectedAt": self.connected_at,
            "fronts": [front.name for front in self.stream.fronts],
            "gateway": self.stream.gateway is not None,
            "types": {
                TYPE_NAMES[url]: {
                    "ackedVersion": state.acked_version,
                    "sentVersion": state.sent_version,
                    "rejectedVersion": state.rejected_version,
                    "pending": state.pending,
                }
                for url, state in self.stream.types.items()
            },
        }


class AggregatedDiscoveryService(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    def __init__(self, state: RouteState, metrics: RouteServerMetrics) -> None:
        self.state = state
        self.metrics = metrics
        self.nodes: dict[int, ConnectedNode] = {}
        self._ids = itertools.count(1)

    async def StreamAggregatedResources(
        self, request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest], context: Any
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        events: asyncio.Queue[discovery_pb2.DiscoveryRequest | _Event] = asyncio.Queue()
        tasks = [
            asyncio.create_task(self._read(request_iterator, events)),
            asyncio.create_task(self._watch_state(events)),
        ]
        stream_id = next(self._ids)
        self.metrics.xds_streams.inc()
        try:
            first = await events.get()
            while first is _Event.CHANGED:
                first = await events.get()
            if first is _Event.CLOSED or not isinstance(first, discovery_pb2.DiscoveryRequest):
                return
            node_id = first.node.id or "(anonymous)"
            try:
                metadata = json_format.MessageToDict(first.node.metadata)
                gateway = fronts_module.gateway_from_metadata(metadata)
                fronts = (
                    fronts_module.fronts_from_metadata(metadata)
                    if gateway is None or fronts_module.NODE_METADATA_FIELD in metadata
                    else []
                )
            except (fronts_module.InvalidFronts, fronts_module.InvalidGateway) as error:
                log.warning("xds: refusing node %s: %s", node_id, error)
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
                return
            stream = StreamState(fronts, gateway)
            self.nodes[stream_id] = ConnectedNode(node_id, stream, time.time())
            role = " as the preview gateway" if gateway is not None else ""
            log.info("xds: node %s connected with %d front(s)%s", node_id, len(fronts), role)
            async for response in self._serve(node_id, stream, first, events):
                yield response
        finally:
            self.nodes.pop(stream_id, None)
            self.metrics.xds_streams.dec()
            for task in tasks:
                task.cancel()

    async def _serve(
        self,
        node_id: str,
        stream: StreamState,
        first: discovery_pb2.DiscoveryRequest,
        events: asyncio.Queue[discovery_pb2.DiscoveryRequest | _Event],
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        event: discovery_pb2.DiscoveryRequest | _Event = first
        changed_at: float | None = time.monotonic()
        while event is not _Event.CLOSED:
            if isinstance(event, discovery_pb2.DiscoveryRequest):
                self._record(node_id, stream, event)
            else:
                changed_at = changed_at or time.monotonic()
            state = self.state
            response = None
            # Until the first list of Sandbox objects is in, the table is empty, not true: a
            # router (re)connecting to a restarted route server keeps its routes meanwhile.
            if state.synced:
                desired = stream.desired(
                    state.table,
                    state.headers,
                    state.addresses,
                    state.route_traces,
                    state.previews,
                    state.preview_keys,
                )
                response = stream.next_response(desired)
            if response is not None:
                self.metrics.xds_responses.labels(TYPE_NAMES[response.type_url]).inc()
                yield response
            elif changed_at is not None and state.synced and not stream.in_flight():
                self.metrics.xds_push_seconds.observe(time.monotonic() - changed_at)
                changed_at = None
            event = await events.get()

    def _record(
        self, node_id: str, stream: StreamState, request: discovery_pb2.DiscoveryRequest
    ) -> None:
        outcome = stream.on_request(request)
        kind = TYPE_NAMES.get(outcome.type_url, outcome.type_url)
        if outcome.kind is RequestOutcome.ACK:
            self.metrics.xds_acks.labels(kind).inc()
        elif outcome.kind is RequestOutcome.NACK:
            self.metrics.xds_nacks.labels(kind).inc()
            log.warning(
                "xds: node %s rejected %s version %s: %s",
                node_id,
                kind,
                outcome.version,
                outcome.error,
            )
        elif outcome.kind is RequestOutcome.UNKNOWN_TYPE:
            log.info("xds: node %s asked for unserved type %s", node_id, outcome.type_url)

    async def _read(
        self,
        request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest],
        events: asyncio.Queue[discovery_pb2.DiscoveryRequest | _Event],
    ) -> None:
        try:
            async for request in request_iterator:
                await events.put(request)
        except (asyncio.CancelledError, grpc.RpcError):
            pass
        finally:
            await events.put(_Event.CLOSED)

    async def _watch_state(
        self, events: asyncio.Queue[discovery_pb2.DiscoveryRequest | _Event]
    ) -> None:
        generation = self.state.generation
        while True:
            generation = await self.state.wait_changed(generation)
            await events.put(_Event.CHANGED)

    async def DeltaAggregatedResources(
        self, request_iterator: AsyncIterator[discovery_pb2.DeltaDiscoveryRequest], context: Any
    ) -> None:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "use the state-of-the-world ADS (api_type GRPC)"
        )


async def start_xds_server(
    service: AggregatedDiscoveryService,
    host: str,
    port: int,
    access_log: als_pb2_grpc.AccessLogServiceServicer | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Serve ADS (and the routers' access-log service, when given) on host:port (0 picks a
    free port); returns the server and its port."""
    server = grpc.aio.server()
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(service, server)
    if access_log is not None:
        als_pb2_grpc.add_AccessLogServiceServicer_to_server(access_log, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port} for xDS")
    await server.start()
    return server, bound
