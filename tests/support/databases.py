"""Throwaway control-plane databases for tests: SQLite files and PostgreSQL databases.

PostgreSQL comes from hack/postgres.sh (run by `make test`), which exports its URL as
SANDBOXMESH_TEST_DATABASE_URL. Each test gets a fresh database created from a template that
was migrated once per session, never a shared database cleaned with DELETE.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from sandboxmesh.controlplane.store import migrate
from sandboxmesh.controlplane.store.engine import create_engine

POSTGRES_ENV = "SANDBOXMESH_TEST_DATABASE_URL"
TEMPLATE = "sandboxmesh_template"
SKIP_POSTGRES = (
    f"{POSTGRES_ENV} is not set: PostgreSQL tests run under `make test`, which starts a "
    "server with hack/postgres.sh"
)


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(with_database(url, "postgres"))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


def migrated_sqlite(path: Path) -> str:
    url = f"sqlite:///{path}"
    asyncio.run(_migrate(url))
    return url


def copy_sqlite(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def create_postgres_template(admin_url: str) -> None:
    asyncio.run(
        _admin(admin_url, f"DROP DATABASE IF EXISTS {TEMPLATE}", f"CREATE DATABASE {TEMPLATE}")
    )
    asyncio.run(_migrate(with_database(admin_url, TEMPLATE)))


def create_postgres_database(admin_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(admin_url, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY"))
    return with_database(admin_url, name)


@contextmanager
def fresh_postgres_database(admin_url: str | None) -> Iterator[str]:
    """A database of its own from the migrated template, dropped afterwards; the test is
    skipped when no PostgreSQL server runs."""
    if admin_url is None:
        pytest.skip(SKIP_POSTGRES)
    url = create_postgres_database(admin_url)
    try:
        yield url
    finally:
        drop_postgres_database(admin_url, url)


def drop_postgres_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    asyncio.run(_admin(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def create_empty_postgres_database(admin_url: str) -> str:
    """A new, empty database: the server under test migrates it on start."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(admin_url, f"CREATE DATABASE {name}"))
    return with_database(admin_url, name)
