"""Async engines for the two supported stores, with the settings each one needs.

SQLite: WAL, foreign keys, a busy timeout, and every transaction opened with BEGIN IMMEDIATE so
a writer holds the write lock from its first statement (no upgrade deadlocks, and conditional
counter updates serialise); a process's transactions queue for that lock in order.
PostgreSQL: asyncpg, a connection pool, READ COMMITTED.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 30


class UnsupportedDatabase(ValueError):
    """A database URL names neither SQLite nor PostgreSQL."""


def async_url(url: str) -> sa.URL:
    """`url` with the async driver of its database (asyncpg or aiosqlite)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise UnsupportedDatabase(f"unsupported database {backend!r}: use postgresql:// or sqlite://")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        if target.database and target.database != ":memory:":
            _private_database_file(Path(target.database))
        engine = create_async_engine(
            target,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            pool_size=5,
            max_overflow=0,
            pool_timeout=60,
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        target,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=60,
        pool_pre_ping=False,
    )


def _private_database_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600), if it does not exist yet.

    It holds every organisation's data and the digests of every token. SQLite would create it
    0644 (less the umask); it creates the -wal and -shm files with the database file's own
    mode, so they follow. An existing file keeps its mode, with a warning when others may
    read it (its owner chose it, or an older version created it: `chmod 600` it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning(
                "the SQLite database %s can be read by others (mode %o): chmod 600 it",
                path,
                mode,
            )
        return
    os.close(descriptor)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, emit BEGIN (see the "begin" hook).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass(frozen=True)
class Store:
    """The engine and what callers need to know about it."""

    engine: AsyncEngine
    # SQLite: this process's transactions take the write lock one after the other, in the
    # order they asked. Left to SQLite, each waiting transaction polls the lock from its
    # busy handler, sleeping up to 100 ms between tries, and the unlucky ones waited seconds
    # (docs/controlplane.md, *Performance*). Other processes (a CLI command) still meet the
    # busy timeout.
    _writer: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed when the block ends normally and rolled back otherwise."""
        if self.is_postgres:
            async with self.engine.begin() as connection:
                yield connection
            return
        async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_SECONDS):
            await self._writer.acquire()
        try:
            async with self.engine.begin() as connection:
                yield connection
        finally:
            self._writer.release()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
