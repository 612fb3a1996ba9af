"""Runs the agent: probes, the assignment poller, the status watcher and the reporter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import httpx
from lightkube import AsyncClient, KubeConfig

from sandboxmesh import __version__, kube
from sandboxmesh.agent.metrics import AgentMetrics
from sandboxmesh.agent.reporter import StatusReporter
from sandboxmesh.agent.session import ControlPlaneSession
from sandboxmesh.agent.settings import AgentSettings
from sandboxmesh.agent.store import SandboxStore
from sandboxmesh.agent.sync import AssignmentPoller, StatusWatcher
from sandboxmesh.agent.tokens import TokenUnavailable, token_source
from sandboxmesh.backoff import Backoff
from sandboxmesh.client import endpoints
from sandboxmesh.probes import ProbeServer

log = logging.getLogger(__name__)


class AgentStartError(RuntimeError):
    """The agent cannot start; the message says what to fix."""


async def run_agent(
    settings: AgentSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> None:
    """Run until SIGTERM/SIGINT (or cancellation)."""
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
    poller = AssignmentPoller(
        session, store, reporter, metrics, wait=sync.poll_wait_seconds, backoff=backoff()
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
    tasks = [
        asyncio.ensure_future(poller.run()),
        asyncio.ensure_future(watcher.run()),
        asyncio.ensure_future(reporter.run()),
        asyncio.ensure_future(_readiness(probes, poller, session)),
    ]
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({stopped, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopped:
                task.result()  # a loop ending by itself is a bug: surface its traceback
    finally:
        for task in [*tasks, stopped]:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await probes.stop()
        await session.aclose()
        await kube_client.close()
        log.info("agent stopped")


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
