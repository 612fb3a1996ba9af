"""Runs the agent: probes, the assignment poller, the status watcher and the reporter.

The loops run under a supervisor: one that ends by itself (a bug; failures of the control
plane and of the API server they retry) turns /readyz red with the reason, logged in one
line, and the agent stops with exit code 1, so that its Pod is restarted.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import httpx
from lightkube import AsyncClient, KubeConfig

from sandboxmesh import __version__, kube
from sandboxmesh.agent.metrics import AgentMetrics
from sandboxmesh.agent.preview_keys import PreviewKeysWriter
from sandboxmesh.agent.reporter import StatusReporter
from sandboxmesh.agent.session import ControlPlaneSession
from sandboxmesh.agent.settings import AgentSettings
from sandboxmesh.agent.store import RouteGroupStore, SandboxStore
from sandboxmesh.agent.sync import AssignmentPoller, StatusWatcher
from sandboxmesh.agent.tokens import TokenUnavailable, token_source
from sandboxmesh.agent.traces import TraceRelay, TraceRelaySettings
from sandboxmesh.backoff import Backoff
from sandboxmesh.client import endpoints
from sandboxmesh.probes import ProbeServer
from sandboxmesh.supervisor import Supervisor

log = logging.getLogger(__name__)

EXIT_OK = 0
#: A loop ended by itself (the supervisor logged why): restart the process.
EXIT_FAILED = 1


class AgentStartError(RuntimeError):
    """The agent cannot start; the message says what to fix."""


async def run_agent(
    settings: AgentSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> int:
    """Run until SIGTERM/SIGINT (EXIT_OK), or until one of its loops ends by itself
    (EXIT_FAILED); cancellation stops it too."""
    config = (
        KubeConfig.from_file(settings.kubeconfig) if settings.kubeconfig else KubeConfig.from_env()
    )
    kube_client = AsyncClient(config=config)
    metrics = AgentMetrics()
    tokens = token_source(settings.token, kube_client)
    try:
        await tokens.read()
    except TokenUnavailable as error:
        await kube_client.close()
        raise AgentStartError(str(error)) from error
    session = ControlPlaneSession(
        settings.control_plane_url,
        tokens,
        metrics,
        token_poll_seconds=settings.token.refresh_seconds,
        transport=transport,
    )
    sync = settings.sync

    def backoff() -> Backoff:
        return Backoff(sync.backoff_initial_seconds, sync.backoff_max_seconds)

    store = SandboxStore(kube_client)
    reporter = StatusReporter(
        lambda batch: session.send(endpoints.report_status(batch)),
        metrics,
        window=sync.report_window_seconds,
        backoff=backoff(),
    )
    relay = None
    if settings.route_server_url:
        relay = TraceRelay(
            TraceRelaySettings(settings.route_server_url),
            lambda report: session.send(endpoints.report_trace(report)),
        )
    poller = AssignmentPoller(
        session,
        store,
        reporter,
        metrics,
        wait=sync.poll_wait_seconds,
        backoff=backoff(),
        traces=relay,
        route_groups=RouteGroupStore(kube_client),
        preview_keys=PreviewKeysWriter(kube_client, settings.own_namespace(kube_client.namespace)),
    )
    watcher = StatusWatcher(
        store,
        reporter,
        settings=kube.ListWatchSettings(
            retry_initial_seconds=sync.backoff_initial_seconds,
            retry_max_seconds=sync.backoff_max_seconds,
        ),
    )
    probes = ProbeServer(settings.probe_host, settings.probe_port, metrics.registry)
    await probes.start()
    log.info("agent %s syncing with %s", __version__, settings.control_plane_url)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    supervisor = Supervisor("agent", on_failure=probes.fail)
    supervisor.spawn("assignment poller", poller.run())
    supervisor.spawn("Sandbox status watch", watcher.run())
    supervisor.spawn("status reporter", reporter.run())
    supervisor.spawn("readiness", _readiness(probes, poller, session))
    if relay is not None:
        supervisor.spawn("route trace relay", relay.run())
    stopped = asyncio.ensure_future(stop.wait())
    failed = asyncio.ensure_future(supervisor.failed.wait())
    try:
        await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        failed.cancel()
        await supervisor.stop()
        await probes.stop()
        await session.aclose()
        await kube_client.close()
        log.info("agent stopped")
    return EXIT_FAILED if supervisor.failure is not None else EXIT_OK


async def _readiness(
    probes: ProbeServer, poller: AssignmentPoller, session: ControlPlaneSession
) -> None:
    """Ready once synced and while the control plane accepts the token."""
    await poller.synced.wait()
    while True:
        probes.ready.set()
        await session.refused.wait()
        probes.ready.clear()
        probes.not_ready_reason = "the control plane refuses the cluster token"
        await session.authorized.wait()
