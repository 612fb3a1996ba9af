"""One unit of work: a connection inside a transaction, its clock, and what to announce after.

Writers register the cluster revisions they produced; the caller publishes them to the
in-process hub only once the transaction committed (PostgreSQL's NOTIFY, issued inside the
transaction by `clusters.bump_revision`, is delivered by the server at commit likewise).

On PostgreSQL the transaction begins with the first statement SQLAlchemy executes (its asyncpg
adapter sends BEGIN then). The hot statements (`Prepared`) run on the driver connection
underneath: inside that transaction once it began, as a transaction of their own before. Under
READ COMMITTED every statement reads its own snapshot either way, so a read gives the same
answer; a prepared write must therefore be complete in one statement, as the create is. A
request that only runs prepared statements (an authenticated create) sends no BEGIN or COMMIT.
Its create goes to the process's `creates` queue, which runs it with the organisation's other
waiting creates on a connection of its own (create_batches.py); once this unit of work's
transaction began, a create runs inline, inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from sandboxmesh.controlplane.store.prepared import Prepared

if TYPE_CHECKING:
    from sandboxmesh.controlplane.repository.create_batches import CreateQueue

NOTIFY_CHANNEL = "sandboxmesh_revisions"


@dataclass
class Tx:
    conn: AsyncConnection
    now: datetime
    #: The process's queue of sandbox creates (PostgreSQL; None: each create runs inline).
    creates: CreateQueue | None = None
    changed_clusters: dict[int, int] = field(default_factory=dict)
    _driver: asyncpg.Connection | None = field(default=None, init=False, repr=False)

    @property
    def is_postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    def changed(self, cluster_id: int, revision: int) -> None:
        """Record that `cluster_id` reached `revision`, to publish in process after commit."""
        self.changed_clusters[cluster_id] = max(revision, self.changed_clusters.get(cluster_id, 0))

    async def fetch_one(
        self, statement: Prepared, parameters: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """The first row of `statement` (None: no row), by column name."""
        if self.is_postgres:
            return await statement.fetch_one(await self.driver_connection(), parameters)
        row = (await self.conn.execute(statement.statement, parameters)).mappings().first()
        return cast(Mapping[str, Any] | None, row)

    async def run(self, statement: Prepared, parameters: Mapping[str, Any]) -> None:
        if self.is_postgres:
            await statement.execute(await self.driver_connection(), parameters)
        else:
            await self.conn.execute(statement.statement, parameters)

    async def driver_connection(self) -> asyncpg.Connection:
        """asyncpg's connection under this unit of work's (PostgreSQL only)."""
        if self._driver is None:
            pooled = await self.conn.get_raw_connection()
            self._driver = pooled.driver_connection
        return self._driver
