"""One unit of work: a connection inside a transaction, its clock, and what to announce after.

What a caller may rely on, on both stores: the writes of a unit of work are committed
together when its block ends normally, and none of them is when it raises.

- Every write runs inside the unit of work's transaction: through SQLAlchemy (`conn`), whose
  first statement begins it (its asyncpg adapter sends BEGIN then; SQLite's BEGIN IMMEDIATE).
- The hot reads (`Prepared`, through `fetch_one`) run on asyncpg's connection underneath:
  inside the transaction once it began, on their own before. Under READ COMMITTED every
  statement reads its own snapshot either way, and before the transaction began there is no
  write of this unit of work to see, so a read gives the same answer. `fetch_one` refuses a
  statement that writes.
- One write may instead be held for the commit (`write_at_commit`, PostgreSQL): the
  repository does so for a sandbox create made while nothing is written yet. It is then the
  unit of work's last statement: it runs once the block ended normally (a route that raised
  after asking for it, or whose response failed to build, never sends it), and the unit of
  work refuses any statement asked of it meanwhile (`StatementAfterLastWrite`). Being the
  only write, it needs no transaction around it: the create statement is complete or not at
  all (sandbox_creates.py), which is what lets it run in the create queue's transaction with
  other requests' creates (create_queue.py).

Writers register the cluster revisions they produced; the caller publishes them to the
in-process hub only once the transaction committed (PostgreSQL's NOTIFY, issued by the write
that bumps the revision, is delivered by the server at commit likewise).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, cast

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from sandboxmesh.controlplane.store.prepared import Prepared


class StatementAfterLastWrite(RuntimeError):
    """A statement was asked of a unit of work that holds its last write for the commit."""


class Tx:
    def __init__(self, *, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self.now = now
        self.changed_clusters: dict[int, int] = {}
        self._after_commit: list[Callable[[], object]] = []
        self._last_write: Callable[[], Awaitable[object]] | None = None
        self._driver: asyncpg.Connection | None = None

    @property
    def conn(self) -> AsyncConnection:
        """The connection, for statements through SQLAlchemy (the first begins the transaction)."""
        self._refuse_after_last_write()
        return self._conn

    @property
    def is_postgres(self) -> bool:
        return self._conn.dialect.name == "postgresql"

    def changed(self, cluster_id: int, revision: int) -> None:
        """Record that `cluster_id` reached `revision`, to publish in process after commit."""
        self.changed_clusters[cluster_id] = max(revision, self.changed_clusters.get(cluster_id, 0))

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

    async def driver_connection(self) -> asyncpg.Connection:
        """asyncpg's connection under this unit of work's (PostgreSQL only)."""
        self._refuse_after_last_write()
        if self._driver is None:
            pooled = await self._conn.get_raw_connection()
            self._driver = pooled.driver_connection
        return self._driver

    async def write_at_commit(self, write: Callable[[], Awaitable[object]]) -> bool:
        """Hold `write` for the commit, as this unit of work's last statement (see the module),
        if nothing was written yet; False (nothing held) when something was: the caller then
        writes now, inside the transaction. SQLite: always False."""
        if not self.is_postgres:
            return False
        if (await self.driver_connection()).is_in_transaction():
            return False
        self._last_write = write
        return True

    async def write_last(self) -> None:
        """Send the write held for the commit, if any (the unit of work calls it once its block
        ended normally, just before it commits). An error it raises rolls back the rest."""
        write, self._last_write = self._last_write, None
        if write is not None:
            await write()

    def _refuse_after_last_write(self) -> None:
        if self._last_write is not None:
            raise StatementAfterLastWrite(
                "this unit of work holds its last write for the commit (a sandbox create):"
                " no statement may follow it"
            )
