"""The route server: Sandbox and RouteGroup watch -> route state -> ADS for Envoy, plus the
HTTP/JSON API.

`RouteServer` runs inside an asyncio loop (the `sandboxmesh route-server` command);
`RouteServerThread` hosts one in a background thread for tests, benchmarks and the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import grpc
import msgspec
import uvicorn
from lightkube import AsyncClient, KubeConfig

from sandboxmesh.routing.controllers.mesh_applier import MeshApplier, MeshKind, installed_meshes
from sandboxmesh.routing.controllers.preview_keys import PreviewKeysWatcher
from sandboxmesh.routing.controllers.router_placement import (
    RouterController,
    RouterControllerSettings,
)
from sandboxmesh.routing.controllers.sandbox_watcher import SandboxWatcher
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.table import RouteTable
from sandboxmesh.routing.core.trace import TraceBuffer
from sandboxmesh.routing.core.upstreams import ServiceAddresses
from sandboxmesh.routing.metrics import RouteServerMetrics
from sandboxmesh.routing.state import RouteState
from sandboxmesh.routing.xds import http_api
from sandboxmesh.routing.xds.access_log import AccessLogService
from sandboxmesh.routing.xds.service import AggregatedDiscoveryService, start_xds_server
from sandboxmesh.supervisor import Supervisor

log = logging.getLogger(__name__)
T = TypeVar("T")

EXIT_OK = 0
#: A long-running task ended by itself (the supervisor logged why): restart the process.
EXIT_FAILED = 1


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 0


@dataclass(frozen=True)
class RouteServerSettings:
    """Where to listen and what to read.

    With `watch` off the table is set by the caller (tests of the data plane alone); with it
    on, Sandbox objects are watched through `kubeconfig`, or when that is None the
    environment's configuration (KUBECONFIG, ~/.kube/config, or the Pod's service account).
    """

    xds: Listen = field(default_factory=Listen)
    http: Listen = field(default_factory=Listen)
    headers: KeyHeaders = field(default_factory=KeyHeaders)
    addresses: ServiceAddresses = field(default_factory=ServiceAddresses)
    watch: bool = False
    kubeconfig: Path | None = None
    #: Put routers in front of opted-in Services (placement B); needs `watch`.
    routers: RouterControllerSettings | None = None
    #: Write the table as these meshes' objects (`auto`: those whose CRD is installed).
    mesh: tuple[MeshKind | Literal["auto"], ...] = ()
    #: Routers log traced requests to this server (route traces; docs/routing.md §4).
    route_traces: bool = True
    #: The namespace whose preview-keys ConfigMap (written by the agent) the preview gateway's
    #: sign-in uses; None: not watched (authenticated previews answer 503). Needs `watch`.
    preview_keys_namespace: str | None = None


class _UvicornServer(uvicorn.Server):
    # The route server owns the process's signals; uvicorn must not take them over.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(listen: Listen) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((listen.host, listen.port))
    return sock


class RouteServer:
    """Start with `start()`, stop with `stop()`. `supervisor.failed` is set when one of its
    long-running tasks ended by itself; /readyz then answers 503 with the reason.

    `kube_client` replaces the client built from the settings (tests give one whose
    transport they control); the server closes it on `stop()`.
    """

    def __init__(
        self, settings: RouteServerSettings, *, kube_client: AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self.metrics = RouteServerMetrics()
        self.state = RouteState(
            settings.headers, settings.addresses, route_traces=settings.route_traces
        )
        # Without a watch the caller owns the table, complete from the start.
        self.state.synced = not settings.watch
        self.ads = AggregatedDiscoveryService(self.state, self.metrics)
        self.traces = TraceBuffer()
        self.access_log = AccessLogService(self.state, self.traces, self.metrics)
        self.supervisor = Supervisor("route server")
        self.xds_port = 0
        self.http_port = 0
        self._grpc: grpc.aio.Server | None = None
        self._kube = kube_client
        self._uvicorn: _UvicornServer | None = None

    async def start(self) -> None:
        if self.settings.watch and self._kube is None:
            # Configuration errors surface before anything listens.
            kubeconfig = self.settings.kubeconfig
            kube = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
            self._kube = AsyncClient(config=kube)
        self._grpc, self.xds_port = await start_xds_server(
            self.ads, self.settings.xds.host, self.settings.xds.port, self.access_log
        )
        sock = _bind(self.settings.http)
        self.http_port = sock.getsockname()[1]
        app = http_api.create_app(self.state, self.ads, self.metrics, self.supervisor, self.traces)
        self._uvicorn = _UvicornServer(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        self.supervisor.spawn("HTTP server", self._uvicorn.serve(sockets=[sock]))
        if self.settings.watch and self._kube is not None:
            watcher = SandboxWatcher(self._kube, self.state, self.metrics)
            self.supervisor.spawn("Sandbox watch", watcher.run())
            self.supervisor.spawn("RouteGroup watch", watcher.run_groups())
            self.supervisor.spawn("RouteGroup status", watcher.run_status())
            if self.settings.preview_keys_namespace is not None:
                keys = PreviewKeysWatcher(
                    self._kube, self.state, self.metrics, self.settings.preview_keys_namespace
                )
                self.supervisor.spawn("preview keys watch", keys.run())
            if self.settings.routers is not None:
                controller = RouterController(self._kube, self.settings.routers)
                self.supervisor.spawn("router controller", controller.run())
            kinds = {k for k in self.settings.mesh if k != "auto"}
            if "auto" in self.settings.mesh:
                kinds |= await installed_meshes(self._kube)
            if kinds:
                applier = MeshApplier(
                    self._kube,
                    self.state,
                    frozenset(MeshKind(k) for k in kinds),
                    self.settings.addresses.cluster_domain,
                )
                self.supervisor.spawn("mesh applier", applier.run())
                log.info("route server: writing routes as %s objects", ", ".join(sorted(kinds)))
        log.info("route server: xDS on port %d, HTTP on port %d", self.xds_port, self.http_port)

    async def stop(self) -> None:
        self.supervisor.begin_stop()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._grpc is not None:
            await self._grpc.stop(grace=1)
        await self.supervisor.stop()
        if self._kube is not None:
            await self._kube.close()


async def serve_until_signalled(
    settings: RouteServerSettings, *, kube_client: AsyncClient | None = None
) -> int:
    """Run a route server until SIGINT or SIGTERM (EXIT_OK), or until one of its tasks ends
    by itself (EXIT_FAILED, the reason logged in one line); stop it cleanly either way."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = RouteServer(settings, kube_client=kube_client)
    await server.start()
    stopped = asyncio.ensure_future(stop.wait())
    failed = asyncio.ensure_future(server.supervisor.failed.wait())
    try:
        await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        failed.cancel()
        log.info("route server: stopping")
        await server.stop()
    return EXIT_FAILED if server.supervisor.failure is not None else EXIT_OK


def warm_kube_decoders() -> None:
    """Build lightkube's decoders for the types the route server reads, in this thread.

    lightkube decodes with msgspec, which builds a type's decoder on first use; two threads
    doing that for the same type at once crash the interpreter (seen here: a segmentation
    fault). A process that runs the route server in a thread beside other Kubernetes clients
    builds them first, before the thread starts.
    """
    from lightkube.core import decoders
    from lightkube.resources.apps_v1 import Deployment
    from lightkube.resources.core_v1 import ConfigMap, Namespace, Pod, Service
    from lightkube.resources.discovery_v1 import EndpointSlice
    from lightkube.resources.policy_v1 import PodDisruptionBudget

    for resource in (
        Deployment,
        ConfigMap,
        Namespace,
        Pod,
        Service,
        EndpointSlice,
        PodDisruptionBudget,
    ):
        # Building the decoder is the point; "{}" may well lack required fields.
        with contextlib.suppress(msgspec.ValidationError):
            decoders.decode_object(b"{}", resource)
        decoders.decode_list(b'{"items": []}', resource)
    decoders.decode_status(b"{}")


class RouteServerThread:
    """A RouteServer on its own loop in a daemon thread; its methods are thread-safe."""

    def __init__(
        self, settings: RouteServerSettings, *, kube_client: AsyncClient | None = None
    ) -> None:
        self.server = RouteServer(settings, kube_client=kube_client)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="routes")

    def _call(self, fn: Callable[[], T]) -> T:
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as error:
                future.set_exception(error)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def start(self) -> RouteServerThread:
        if self.server.settings.watch:
            warm_kube_decoders()
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout=60)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    @property
    def xds_port(self) -> int:
        return self.server.xds_port

    @property
    def http_port(self) -> int:
        return self.server.http_port

    def set_table(self, table: RouteTable) -> None:
        self._call(lambda: self.server.state.set_table(table))

    def set_addresses(self, addresses: ServiceAddresses) -> None:
        self._call(lambda: self.server.state.set_addresses(addresses))

    def read(self, fn: Callable[[RouteServer], T]) -> T:
        """Run `fn(server)` on the server's loop and return its result (for inspection)."""
        return self._call(lambda: fn(self.server))

    def __enter__(self) -> RouteServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
