"""One unit of work: a transaction, its clock, and what to announce once it committed.

What a caller may rely on, on both stores: the writes of a unit of work are committed
together when its block ends normally, and none of them is when it raises.

- Every statement runs on one connection (`conn`, through SQLAlchemy), whose first statement
  begins the transaction (its asyncpg adapter sends BEGIN then; SQLite's BEGIN IMMEDIATE).
- The hot reads (`Prepared`, through `fetch_one`) run on PostgreSQL on asyncpg's connection
  underneath it: inside the transaction once it began, on their own before. Under READ
  COMMITTED every statement reads its own snapshot either way, and before the transaction
  began there is nothing of this unit of work to see, so a read gives the same answer.
  `fetch_one` refuses a statement that writes.
- Writes may be held for the commit (`before_commit`): they run, in the order they were
  held, once the block ended normally, after everything else it did and before the commit.
  A route that raised, or whose response failed to build, never sends them. The repository
  holds its sandbox creates so: what refuses one (a quota) is raised when the unit of work
  ends.

Writers register the cluster revisions they produced; the caller publishes them to the
in-process hub only once the transaction committed (PostgreSQL's NOTIFY, issued by the write
that bumps the revision, is delivered by the server at commit likewise).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sandboxmesh.controlplane.store.prepared import Prepared

# A statement that reads nothing, for `begin`.
_NOTHING = sa.select(sa.literal(1))


class Tx:
    def __init__(self, *, conn: AsyncConnection, now: datetime) -> None:
        #: The connection, for statements through SQLAlchemy (the first begins the transaction).
        self.conn = conn
        self.now = now
        self.changed_clusters: dict[int, int] = {}
        self._before_commit: list[Callable[[], Awaitable[object]]] = []
        self._after_commit: list[Callable[[], object]] = []
        self._driver: asyncpg.Connection | None = None

    @property
    def is_postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    def changed(self, cluster_id: int, revision: int) -> None:
        """Record that `cluster_id` reached `revision`, to publish in process after commit."""
        self.changed_clusters[cluster_id] = max(revision, self.changed_clusters.get(cluster_id, 0))

    def before_commit(self, write: Callable[[], Awaitable[object]]) -> None:
        """Run `write` once the block ended normally, just before the commit (see the module);
        an error it raises rolls the unit of work back."""
        self._before_commit.append(write)

    def holds_writes(self) -> bool:
        """Whether writes are held for the commit (from `finish` on: ones after the running)."""
        return bool(self._before_commit)

    async def finish(self) -> None:
        """Run the writes held by `before_commit` (the unit of work calls it before its commit)."""
        while self._before_commit:
            await self._before_commit.pop(0)()

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Call `callback` once this unit of work committed (never if it rolled back)."""
        self._after_commit.append(callback)

    def committed(self) -> None:
        """Run the callbacks of `after_commit` (the unit of work calls it after its commit)."""
        for callback in self._after_commit:
            callback()

    async def fetch_one(
        self, statement: Prepared, parameters: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """The first row of the read `statement` (None: no row), by column name."""
        if statement.writes:
            raise TypeError("a write runs in the transaction: execute it on `conn`")
        if self.is_postgres:
            return await statement.fetch_one(await self.driver_connection(), parameters)
        row = (await self.conn.execute(statement.statement, parameters)).mappings().first()
        return cast(Mapping[str, Any] | None, row)

    async def begin(self) -> None:
        """Begin the transaction now, if no statement through `conn` did yet: statements on
        `driver_connection` then run inside it (PostgreSQL's adapter sends BEGIN lazily)."""
        if self.is_postgres and not (await self.driver_connection()).is_in_transaction():
            await self.conn.execute(_NOTHING)

    async def driver_connection(self) -> asyncpg.Connection:
        """asyncpg's connection under this unit of work's (PostgreSQL only)."""
        if self._driver is None:
            pooled = await self.conn.get_raw_connection()
            self._driver = pooled.driver_connection
        return self._driver
