"""`create_app(settings)`: the ASGI app. Nothing is read or connected at import time.

The lifespan opens the store, applies migrations (unless disabled), starts the PostgreSQL
notification listener and create queue and the TTL sweeper, and undoes all of it on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from fastapi import FastAPI

from sandboxmesh import __version__, logs
from sandboxmesh.controlplane.api import error_handlers
from sandboxmesh.controlplane.api.middleware import BodyLimit, Observe, RefuseNul
from sandboxmesh.controlplane.api.routes import (
    agent,
    clusters,
    health,
    members,
    organization,
    policy,
    routegroups,
    sandboxes,
    teams,
    traces,
    webhooks,
)
from sandboxmesh.controlplane.domain import traces as trace_rules
from sandboxmesh.controlplane.mail import SmtpMailer
from sandboxmesh.controlplane.metrics import Metrics
from sandboxmesh.controlplane.metrics_access import MetricsGate
from sandboxmesh.controlplane.portal import mount as portal
from sandboxmesh.controlplane.repository import route_groups as route_group_store
from sandboxmesh.controlplane.repository import traces as trace_store
from sandboxmesh.controlplane.repository import webhooks as webhook_store
from sandboxmesh.controlplane.repository.create_queue import CreateQueue
from sandboxmesh.controlplane.repository.sandboxes import expire_due
from sandboxmesh.controlplane.revisions import PostgresListener
from sandboxmesh.controlplane.runtime import Runtime, utc_now
from sandboxmesh.controlplane.settings import Settings
from sandboxmesh.controlplane.store import migrate
from sandboxmesh.controlplane.store.engine import Store, async_url, create_engine
from sandboxmesh.controlplane.sweeper import sweep_forever
from sandboxmesh.controlplane.throttle import Throttle

log = logging.getLogger(__name__)


def create_app_from_environment() -> FastAPI:
    """The app as each worker of `sandboxmesh server --workers N` builds it: settings from the
    environment (the command puts its options there), logging configured per process."""
    settings = Settings()
    logs.configure(settings.log_level, json=settings.json_logs)
    return create_app(settings)


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    metrics = Metrics()
    runtime = Runtime(
        settings=settings,
        metrics=metrics,
        throttle=Throttle(
            settings.throttle,
            on_refused=lambda limit: metrics.sign_in_refusals.labels(limit).inc(),
        ),
        mailer=SmtpMailer(settings.mail) if settings.mail.enabled else None,
        clock=clock,
        metrics_gate=MetricsGate.from_settings(settings.metrics, settings.environment),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _running(runtime):
            yield
        runtime.metrics.process_stopped()

    app = FastAPI(
        title="SandboxMesh control plane",
        version=__version__,
        description="Multi-tenant intent store for preview environments, and the agent protocol.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    error_handlers.install(app)
    # The hot routes first: a request is matched against the routes in this order, and a
    # sandbox create or an agent's poll then skips the others (docs/controlplane.md).
    for module in (
        sandboxes,
        agent,
        health,
        organization,
        teams,
        members,
        clusters,
        traces,
        routegroups,
        policy,
        webhooks,
    ):
        app.include_router(module.router)
    # The web UI under /portal (and a redirect from /), on the same repository layer.
    portal.install(app)
    # Outermost first: observe everything, including requests refused for their size.
    app.add_middleware(RefuseNul)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.http.max_body_bytes,
        timeout_seconds=settings.http.body_timeout_seconds,
    )
    app.add_middleware(Observe, metrics=runtime.metrics)
    return app


@contextlib.asynccontextmanager
async def _running(runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    url = settings.database.resolved_url()
    store = Store(create_engine(url, pool_size=settings.database.pool_size))
    # Undone in reverse order, whatever stage the start reached.
    async with contextlib.AsyncExitStack() as started:
        started.push_async_callback(store.dispose)
        if settings.database.migrate_on_start:
            revision = await migrate.upgrade(store.engine)
            log.info("database migrated", extra={"revision": revision})
        runtime.store = store
        started.callback(setattr, runtime, "store", None)
        if store.is_postgres:
            dsn = async_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            listener = PostgresListener(dsn, runtime.hub)
            started.push_async_callback(listener.stop)
            await listener.start()
            runtime.listener = listener
            creates = CreateQueue(
                dsn,
                connections=settings.database.create_connections,
                on_batch=runtime.metrics.create_batch_size.observe,
            )
            started.push_async_callback(creates.stop)
            await creates.start()
            runtime.creates = creates
            started.callback(setattr, runtime, "creates", None)
        sweeper = asyncio.create_task(
            sweep_forever(lambda: _sweep(runtime), settings.sweeper.interval_seconds),
            name="ttl-sweeper",
        )
        started.push_async_callback(_cancel, sweeper)
        yield


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _sweep(runtime: Runtime) -> list[str]:
    async with runtime.unit_of_work() as tx:
        expired = await expire_due(tx)
        # Route groups expire alike; the metric and the log line count sandboxes.
        await route_group_store.expire_due(tx)
        await trace_store.prune(tx, before=tx.now - trace_rules.KEEP)
        await webhook_store.forget_deliveries(tx)
    runtime.metrics.ttl_expired.inc(len(expired))
    return expired
