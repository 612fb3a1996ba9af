"""Runs the operator: probes, leader election, then kopf with our handlers until stopped.

No handler runs before this replica holds the leader lease: kopf starts only once
`LeaderElector.acquire()` has returned, and is stopped as soon as `hold()` reports the lease
lost. While it waits, /readyz answers 503 with the reason (held by another replica, its
namespace missing, the API refusing the write...).

Exit codes: 0 after SIGTERM/SIGINT, 1 when leadership was lost (the replica restarts and
becomes a candidate again, as controller-runtime does), 2 when kopf ended by itself. Each
stop is logged in one line with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

import kopf
from lightkube import AsyncClient, KubeConfig
from lightkube.resources.core_v1 import Namespace

from sandboxmesh import kube
from sandboxmesh.operator import naming
from sandboxmesh.operator.handlers import build_registry, post_event
from sandboxmesh.operator.lease_thread import ElectorThread
from sandboxmesh.operator.metrics import OperatorMetrics
from sandboxmesh.operator.reconcile import Reconciler
from sandboxmesh.operator.settings import OperatorSettings
from sandboxmesh.probes import ProbeServer

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_LEADERSHIP_LOST = 1
EXIT_KOPF_ENDED = 2


async def _warn_about_missing_namespaces(
    client: AsyncClient, namespaces: frozenset[str] | None
) -> None:
    # kopf serves even the cluster-scoped Sandboxes through the configured namespaces that
    # exist: with none of them there, nothing is reconciled until one is created.
    for name in sorted(namespaces or ()):
        try:
            if await kube.get_or_none(client, Namespace, name) is None:
                log.warning("namespace %s does not exist (yet): it is watched once it does", name)
        except kube.CLIENT_ERRORS:
            # e.g. not allowed to read namespaces: nothing to check with, and a warning only
            # is not worth failing the start for.
            return


def _kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = naming.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="sandboxmesh.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="sandboxmesh.io", key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    return settings


async def run_operator(settings: OperatorSettings) -> int:
    if settings.kubeconfig is not None:
        # kopf's own API client logs in from $KUBECONFIG; lightkube takes the same file.
        os.environ["KUBECONFIG"] = str(settings.kubeconfig)
    config = (
        KubeConfig.from_file(settings.kubeconfig) if settings.kubeconfig else KubeConfig.from_env()
    )
    client = AsyncClient(config=config, field_manager=naming.FIELD_MANAGER)
    metrics = OperatorMetrics()
    probes = ProbeServer(settings.probes.host, settings.probes.port, metrics.registry)
    probes.not_ready_reason = "standby: waiting for the leader lease"
    await probes.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def standby(reason: str) -> None:
        probes.not_ready_reason = reason

    elector = ElectorThread(config, settings.leader_election, on_waiting=standby)
    try:
        if settings.leader_election.enabled:
            await elector.start()
            acquired = asyncio.ensure_future(elector.acquire())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({acquired, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not acquired.done():
                acquired.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await acquired
                return EXIT_OK
            # acquire() returns only holding the lease; anything it raises is a bug, and
            # ends the process here, before any handler could act.
            acquired.result()
            metrics.leader.set(1)
        return await _run_kopf(settings, client, metrics, probes, elector, stop)
    finally:
        metrics.leader.set(0)
        if settings.leader_election.enabled:
            with contextlib.suppress(Exception):
                await elector.release()
        await elector.close()
        await probes.stop()
        await client.close()


async def _run_kopf(
    settings: OperatorSettings,
    client: AsyncClient,
    metrics: OperatorMetrics,
    probes: ProbeServer,
    elector: ElectorThread,
    stop: asyncio.Event,
) -> int:
    await _warn_about_missing_namespaces(client, settings.forking.namespaces)
    reconciler = Reconciler(client, settings.forking, metrics, post_event)
    registry = build_registry(reconciler, settings.forking)
    namespaces = settings.forking.namespaces
    kopf_stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    operator = asyncio.ensure_future(
        kopf.operator(
            registry=registry,
            settings=_kopf_settings(),
            clusterwide=namespaces is None,
            namespaces=sorted(namespaces or ()),
            stop_flag=kopf_stop,
            ready_flag=ready,
        )
    )

    def on_ready(_: object) -> None:
        probes.ready.set()
        # kopf took SIGTERM and SIGINT for itself as it started (it stops on them, silently
        # to us): ours again, so that a stop is ours to log and to order.
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

    ready.add_done_callback(on_ready)
    stopped = asyncio.ensure_future(stop.wait())
    holding: asyncio.Future[str] | None = None
    if settings.leader_election.enabled:
        holding = asyncio.ensure_future(elector.hold())
    watchers: list[asyncio.Future[Any]] = [stopped] if holding is None else [stopped, holding]
    done, _ = await asyncio.wait({operator, *watchers}, return_when=asyncio.FIRST_COMPLETED)
    code = EXIT_OK
    try:
        if holding is not None and holding in done:
            # hold() has logged why in one line (it raising is a bug: its traceback follows).
            reason = holding.result()
            probes.ready.clear()
            probes.not_ready_reason = f"lost the leader lease: {reason}"
            metrics.leader.set(0)
            code = EXIT_LEADERSHIP_LOST
        elif stopped in done:
            log.info("stopping: asked to (SIGTERM or SIGINT)")
        if operator in done:
            # kopf ending by itself is an error: say so in one line, then its traceback.
            error = operator.exception()
            if error is None:  # kopf took a signal before it was ready
                log.info("stopping: kopf stopped on a signal")
            else:
                log.error("stopping: kopf ended by itself (%s: %s)", type(error).__name__, error)
                code = EXIT_KOPF_ENDED
                operator.result()
    finally:
        for task in watchers:
            task.cancel()
        if not kopf_stop.done():
            kopf_stop.set_result(None)
        with contextlib.suppress(asyncio.CancelledError):
            await operator
        reconciler.close()
    return code
