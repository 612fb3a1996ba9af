"""Sandbox creates on PostgreSQL, gathered per organisation into one transaction.

Every create of an organisation updates the same rows (the organisation's and the team's
counters, the cluster's revision), so concurrent creates, each in a transaction of its own,
queue on those row locks one commit after another, and PostgreSQL spends more on the queue
than on the creates (docs/controlplane.md, *Performance*). A process therefore runs at most
one batch per organisation at a time: creates that arrive while it runs wait, and go together
in the next batch, one transaction that takes each lock once for all of them
(sandbox_creates.commit_batch). A create that finds nothing running goes at once, so a quiet
server makes nobody wait.

A batch decides each create in arrival order exactly as one transaction per create would,
and writes all or nothing. An error of one create (a name taken since its target was read, a
value the database refuses) rolls the whole batch back: it is then run again one create at a
time, so that only that create fails.

A queued create commits with its batch, apart from its request's unit of work: the
repository queues only a create that is its unit of work's one write, held for its commit
(`Tx.before_commit`, repository/transaction.py), so nothing of the request runs after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import asyncpg
import sqlalchemy as sa

from sandboxmesh.controlplane.repository.sandbox_creates import NewSandbox, Outcome, commit_batch

log = logging.getLogger(__name__)

#: The most creates one batch carries.
MAX_BATCH = 64

_Waiting = tuple[NewSandbox, "asyncio.Future[Outcome]"]

# What fails one batch but may leave its creates fine one by one: a taken name, or any
# error PostgreSQL reports for a statement (a lost connection is neither).
_STATEMENT_ERRORS = (sa.exc.IntegrityError, asyncpg.PostgresError)


class CreateQueue:
    """The creates waiting per organisation, and at most one batch running for each.

    Batches run on connections of their own (`connections` at most, for as many
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
        of a name waits for the next batch (where the name is taken, as it would be)."""
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
            outcomes = await commit_batch(connection, org_id, [new for new, _ in batch])
        except _STATEMENT_ERRORS as error:
            if len(batch) == 1:
                raise
            # The batch wrote nothing: each create on its own, so only its own fails.
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
    """The queue's batches leave no session state behind (no LISTEN, settings, cursors or
    locks), so a connection returns to the pool without asyncpg's reset query: a round trip
    per batch. An open transaction is still rolled back first (the pool always does)."""


def _stopped() -> RuntimeError:
    return RuntimeError("the create queue stopped before this create was written")


def _fail(entries: Sequence[_Waiting], error: Exception) -> None:
    for _, answer in entries:
        if not answer.done():
            answer.set_exception(error)
