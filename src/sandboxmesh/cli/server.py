"""`sandboxmesh server` and `sandboxmesh db upgrade`: run and migrate the control plane."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import typer

from sandboxmesh.cli.errors import CliError

# The control plane (FastAPI, SQLAlchemy) is imported inside the commands that run it, so the
# client commands of the CLI start quickly.
if TYPE_CHECKING:
    from sandboxmesh.controlplane import Settings

DatabaseUrlOption = typer.Option(
    None,
    "--database-url",
    envvar="SANDBOXMESH_DATABASE_URL",
    help="postgresql://... or sqlite:///...; SQLite under SANDBOXMESH_HOME by default.",
)


def settings_with(database_url: str | None, **http: object) -> Settings:
    from sandboxmesh.controlplane import Settings

    try:
        settings = Settings()
    except ValueError as error:
        raise CliError(f"invalid settings: {error}") from error
    database = settings.database.model_copy(update={"url": database_url or settings.database.url})
    return settings.model_copy(
        update={"database": database, "http": settings.http.model_copy(update=http)}
    )


def server(
    database_url: str | None = DatabaseUrlOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="Server processes sharing the port (PostgreSQL only: SQLite serves from one).",
    ),
    forwarded_allow_ips: str = typer.Option(
        "127.0.0.1",
        "--forwarded-allow-ips",
        envvar="FORWARDED_ALLOW_IPS",
        help="Proxies whose X-Forwarded-For/-Proto are believed (comma-separated addresses or "
        "networks; '*' for any): the client address that log-in limits count comes from them.",
    ),
) -> None:
    """Run the control plane (migrates the database first)."""
    import os
    import shutil
    import tempfile

    import uvicorn

    from sandboxmesh import logs
    from sandboxmesh.controlplane import create_app
    from sandboxmesh.controlplane.http_protocol import (
        HEADER_BYTES_ENV,
        HEADER_TIMEOUT_ENV,
        HeaderDeadlineProtocol,
    )
    from sandboxmesh.controlplane.metrics import MULTIPROCESS_DIR_ENV
    from sandboxmesh.controlplane.metrics_access import MetricsGate, UnusableTokenFile
    from sandboxmesh.controlplane.store.engine import UnsupportedDatabase

    settings = settings_with(database_url, host=host, port=port)
    try:
        # Here as well as in each app: workers would each fail on their own, less readably.
        MetricsGate.from_settings(settings.metrics, settings.environment)
    except UnusableTokenFile as error:
        raise CliError(str(error)) from error
    # uvicorn's own limits, and ours on request headers (http_protocol, which every worker
    # reads from the environment).
    os.environ[HEADER_TIMEOUT_ENV] = str(settings.http.header_timeout_seconds)
    os.environ[HEADER_BYTES_ENV] = str(settings.http.max_header_bytes)
    options: dict[str, Any] = {
        "http": HeaderDeadlineProtocol,
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "timeout_keep_alive": settings.http.keep_alive_seconds,
        "limit_concurrency": settings.http.max_concurrency,
        "proxy_headers": True,
        "forwarded_allow_ips": forwarded_allow_ips,
    }
    if workers > 1:
        url = settings.database.resolved_url()
        if not url.startswith("postgresql"):
            raise CliError("--workers needs PostgreSQL: SQLite serves from one process")
        # Each worker builds the app from the environment (migrations take a lock; the revision
        # listener and the sweeper are safe to run in every process, as with several servers).
        os.environ["SANDBOXMESH_DATABASE__URL"] = url
        # The workers' metric values, added up by whichever worker a scrape reaches: a
        # directory of this run's own, empty at the start (old files would count again).
        metrics_dir = tempfile.mkdtemp(prefix="sandboxmesh-metrics-")
        os.environ[MULTIPROCESS_DIR_ENV] = metrics_dir
        factory = "sandboxmesh.controlplane.app:create_app_from_environment"
        try:
            uvicorn.run(factory, factory=True, workers=workers, **options)
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        return
    logs.configure(settings.log_level, json=settings.json_logs)
    try:
        app = create_app(settings)
    except UnsupportedDatabase as error:
        raise CliError(str(error)) from error
    uvicorn.run(app, **options)


db_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="The control plane's database."
)


@db_app.command("upgrade")
def upgrade(database_url: str | None = DatabaseUrlOption) -> None:
    """Apply the database migrations up to the newest."""
    from sandboxmesh.controlplane.store.engine import UnsupportedDatabase

    url = settings_with(database_url).database.resolved_url()
    try:
        revision = asyncio.run(_upgrade(url))
    except UnsupportedDatabase as error:
        raise CliError(str(error)) from error
    except OSError as error:
        raise CliError(f"cannot reach the database: {error}") from error
    typer.echo(f"database at revision {revision}")


async def _upgrade(url: str) -> str | None:
    from sandboxmesh.controlplane.store import migrate
    from sandboxmesh.controlplane.store.engine import create_engine

    engine = create_engine(url)
    try:
        return await migrate.upgrade(engine)
    finally:
        await engine.dispose()
