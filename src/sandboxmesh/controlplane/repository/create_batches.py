"""Sandbox creates on PostgreSQL, gathered per organisation into one statement.

Every create of an organisation updates the same three rows (the organisation's and the
team's counters, the cluster's revision), so concurrent creates queue on those row locks one
commit after another, and PostgreSQL spends more on the queue than on the creates (50 clients
creating in one organisation: 330-400 creates/s at 3.1-3.7 ms of its CPU each). A process
therefore sends at most one create statement per organisation at a time: creates that arrive
while it runs wait, and go together in the next statement, which takes each lock once for all
of them (5,500-6,600 creates/s at 0.08-0.11 ms each, same machine and runs; both figures from
bench/controlplane/store_floor.py). A create that finds nothing running goes at once, so a
quiet server makes nobody wait.

The statement (`sandbox_statements.CREATE_BATCH_POSTGRES`) decides each create in arrival
order exactly as one statement per create would, and writes all or nothing. An error of one
create (a name taken since its target was read, a value the database refuses) fails the
whole statement: the batch is then run again one create at a time, so that only that create
fails.

`create(tx, ...)` is the one entry point: it queues when the process has a `CreateQueue` and
the request's connection is not inside a transaction; inside one, the create must be part of
it, and runs inline, as a batch of one, on that connection. A queued create commits with its
batch, apart from its request's transaction, so the repository queues only a create that is
its unit of work's one write, held for the commit as its last statement (`Tx.write_at_commit`,
repository/transaction.py): nothing of the request that can fail runs after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg
import sqlalchemy as sa

from sandboxmesh.controlplane.repository.sandbox_statements import CREATE_BATCH_POSTGRES
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.prepared import DIALECT
from sandboxmesh.controlplane.store.tables import UtcDateTime
from sandboxmesh.spec import Phase

log = logging.getLogger(__name__)

#: The most creates one statement carries.
MAX_BATCH = 64

_UTC = UtcDateTime()


@dataclass(frozen=True)
class NewSandbox:
    """One create, with everything the statement writes for it."""

    name: str
    team_id: int
    team_name: str
    cluster_id: int
    spec: Mapping[str, Any]
    routing_key: str
    actor: str
    at: datetime
    expires_at: datetime | None
    labels: Mapping[str, str]
    audit_details: Mapping[str, Any]

    def item(self, position: int) -> dict[str, Any]:
        """This create as an element of the statement's `items` (ITEM_COLUMNS)."""
        return {
            "ord": position,
            "name": self.name,
            "team": self.team_id,
            "cluster": self.cluster_id,
            "spec": self.spec,
            "routing": self.routing_key,
            "actor": self.actor,
            "at": _stored(self.at),
            "expiry": _stored(self.expires_at),
            "team_label": self.team_name,
            "labels": self.labels,
            "audit_target": f"sandbox/{self.name}",
            "audit_details": self.audit_details,
        }


def _stored(moment: datetime | None) -> str | None:
    """`moment` as its column stores it (naive UTC), written for JSON."""
    stored = _UTC.process_bind_param(moment, DIALECT)
    return None if stored is None else stored.isoformat()


@dataclass(frozen=True)
class Created:
    sandbox_id: int
    revision: int


class Refused(StrEnum):
    """Why a create was not made (nothing of it was written)."""

    TARGET_GONE = "target_gone"  # its team or cluster was deleted after it was read
    ORGANIZATION_FULL = "organization_full"
    TEAM_FULL = "team_full"


Outcome = Created | Refused


def _outcome(row: Mapping[str, Any]) -> Outcome:
    if not row["present"]:
        return Refused.TARGET_GONE
    if row["org_full"]:
        return Refused.ORGANIZATION_FULL
    if not row["team_fits"]:
        return Refused.TEAM_FULL
    return Created(sandbox_id=int(row["sandbox_id"]), revision=int(row["revision"]))


async def create_all(
    connection: asyncpg.Connection, org_id: int, batch: Sequence[NewSandbox]
) -> list[Outcome]:
    """Run one statement for `batch` (distinct names): an outcome per create, in order.

    Raises sqlalchemy's IntegrityError when a name is taken (nothing is written then)."""
    rows = await CREATE_BATCH_POSTGRES.fetch_all(
        connection,
        {
            "org": org_id,
            "items": [new.item(position) for position, new in enumerate(batch)],
            "phase_value": Phase.PENDING.value,
        },
    )
    return [_outcome(row) for row in rows]


async def create(tx: Tx, org_id: int, new: NewSandbox) -> Outcome:
    """Create `new` in `org_id`: through the process's queue, or inline (see the module)."""
    connection = await tx.driver_connection()
    if tx.creates is None or not tx.creates.accepting or connection.is_in_transaction():
        return (await create_all(connection, org_id, [new]))[0]
    return await tx.creates.create(org_id, new)


_Waiting = tuple[NewSandbox, "asyncio.Future[Outcome]"]

# What fails one statement but may leave its creates fine one by one: a taken name, or any
# error PostgreSQL reports for the statement (a lost connection is neither).
_STATEMENT_ERRORS = (sa.exc.IntegrityError, asyncpg.PostgresError)


class CreateQueue:
    """The creates waiting per organisation, and at most one statement running for each.

    Statements run on connections of their own (`connections` at most, for as many
    organisations at once), never on a request's: requests hold theirs while they wait, and a
    queue drawing from the same pool could wait for a connection that only it would free.
    """

    def __init__(
        self,
        dsn: str,
        *,
        connections: int,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        self._dsn = dsn
        self._connections = connections
        self._on_batch = on_batch
        self._pool: asyncpg.Pool | None = None
        self._stopping = False
        self._waiting: dict[int, list[_Waiting]] = {}
        self._running: dict[int, asyncio.Task[None]] = {}

    @property
    def accepting(self) -> bool:
        """False before `start` and from `stop` on (creates then run inline)."""
        return self._pool is not None and not self._stopping

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=self._connections, reset=_keep_session
        )

    async def stop(self, *, grace_seconds: float = 30) -> None:
        """Take no more creates; let those queued be written (for up to `grace_seconds`,
        then they fail), and close the connections."""
        self._stopping = True
        running = list(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def create(self, org_id: int, new: NewSandbox) -> Outcome:
        pool = self._pool
        if pool is None or self._stopping:
            raise RuntimeError("the create queue is not running")
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(org_id, []).append((new, answer))
        if org_id not in self._running:
            self._running[org_id] = asyncio.create_task(
                self._drain(org_id, pool), name=f"sandbox creates of organisation {org_id}"
            )
        return await answer

    def _next_batch(self, org_id: int) -> list[_Waiting]:
        """Up to MAX_BATCH waiting creates in arrival order, names distinct: a second create
        of a name waits for the next statement (where the name is taken, as it would be)."""
        waiting = self._waiting.get(org_id, [])
        batch: list[_Waiting] = []
        later: list[_Waiting] = []
        names: set[str] = set()
        for entry in waiting:
            new, answer = entry
            if answer.done():  # its request was cancelled while it waited: not made
                continue
            if len(batch) == MAX_BATCH or new.name in names:
                later.append(entry)
                continue
            names.add(new.name)
            batch.append(entry)
        if later:
            self._waiting[org_id] = later
        else:
            self._waiting.pop(org_id, None)
        return batch

    async def _drain(self, org_id: int, pool: asyncpg.Pool) -> None:
        try:
            while batch := self._next_batch(org_id):
                try:
                    async with pool.acquire() as connection:
                        await self._run(connection, org_id, batch)
                except Exception as error:
                    _fail(batch, error)
                except BaseException:  # cancelled: `stop` waited long enough
                    _fail(batch, _stopped())
                    raise
        finally:
            self._running.pop(org_id, None)
            _fail(self._waiting.pop(org_id, []), _stopped())

    async def _run(
        self, connection: asyncpg.Connection, org_id: int, batch: list[_Waiting]
    ) -> None:
        self._on_batch(len(batch))
        try:
            outcomes = await create_all(connection, org_id, [new for new, _ in batch])
        except _STATEMENT_ERRORS as error:
            if len(batch) == 1:
                raise
            # The statement wrote nothing: each create on its own, so only its own fails.
            log.info("a batch of %d creates failed (%s): one at a time", len(batch), error)
            for entry in batch:
                if entry[1].done():  # its request went away meanwhile: not made
                    continue
                try:
                    await self._run(connection, org_id, [entry])
                except _STATEMENT_ERRORS as alone:
                    _fail([entry], alone)
            return
        for (_, answer), outcome in zip(batch, outcomes, strict=True):
            if not answer.done():
                answer.set_result(outcome)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The queue's statements leave no session state behind (no LISTEN, settings, cursors or
    locks), so a connection returns to the pool without asyncpg's reset query: a round trip
    per statement. An open transaction is still rolled back first (the pool always does)."""


def _stopped() -> RuntimeError:
    return RuntimeError("the create queue stopped before this create was written")


def _fail(entries: Sequence[_Waiting], error: Exception) -> None:
    for _, answer in entries:
        if not answer.done():
            answer.set_exception(error)
