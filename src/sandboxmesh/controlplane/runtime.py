"""What a running app holds: settings, store, revision hub, create queue, metrics and clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandboxmesh.controlplane.metrics import Metrics
from sandboxmesh.controlplane.repository.create_batches import CreateQueue
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.revisions import PostgresListener, RevisionHub
from sandboxmesh.controlplane.settings import Settings
from sandboxmesh.controlplane.store.engine import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    metrics: Metrics
    clock: Callable[[], datetime] = utc_now
    hub: RevisionHub = field(default_factory=RevisionHub)
    store: Store | None = None
    listener: PostgresListener | None = None
    creates: CreateQueue | None = None

    def require_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the app has not started (its lifespan did not run)")
        return self.store

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[Tx]:
        """A transaction: what the block wrote is committed together once it ended normally,
        nothing of it if it raised (repository/transaction.py says how, store by store). The
        write held for the commit, if any, is sent last; after the commit, the revisions
        produced are published and the `after_commit` callbacks run."""
        async with self.require_store().transaction() as connection:
            tx = Tx(conn=connection, now=self.clock(), creates=self.creates)
            yield tx
            await tx.write_last()
        for cluster_id, revision in tx.changed_clusters.items():
            self.hub.publish(cluster_id, revision)
        tx.committed()
