"""Wake-ups for long-polling agents: per-cluster revisions, in process and across processes.

`RevisionHub` remembers the highest revision it heard of per cluster and wakes the long-polls
waiting for a newer one. Writers publish after their commit; on PostgreSQL every process also
LISTENs on the channel the writers NOTIFY inside their transaction, so a change made through
one process wakes the agents waiting on another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from sandboxmesh.controlplane.store import revision_channel

log = logging.getLogger(__name__)
_RECONNECT_SECONDS = 1.0


class RevisionHub:
    def __init__(self) -> None:
        self._latest: dict[int, int] = {}
        self._events: dict[int, asyncio.Event] = {}

    def publish(self, cluster_id: int, revision: int) -> None:
        """`cluster_id` reached `revision`: wake whoever waits for anything newer."""
        if revision <= self._latest.get(cluster_id, 0):
            return
        self._latest[cluster_id] = revision
        event = self._events.pop(cluster_id, None)
        if event is not None:
            event.set()

    def wake_all(self) -> None:
        """Wake every waiter (they re-read the store): after notifications may have been lost."""
        events, self._events = self._events, {}
        for event in events.values():
            event.set()

    @property
    def waiting(self) -> int:
        return len(self._events)

    async def wait_beyond(self, cluster_id: int, since: int, seconds: float) -> bool:
        """Wait until `cluster_id` passes revision `since`; False when `seconds` ran out first.

        Callers first read the store and `publish` what they read, so a change that commits
        between their read and this wait is never missed.
        """
        if self._latest.get(cluster_id, 0) > since:
            return True
        event = self._events.get(cluster_id)
        if event is None:
            event = self._events[cluster_id] = asyncio.Event()
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            return False
        return True


def parse_notification(payload: str) -> tuple[int, int] | None:
    cluster, _, revision = payload.partition(":")
    try:
        return int(cluster), int(revision)
    except ValueError:
        return None


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    return lambda _: event.set()


class PostgresListener:
    """LISTENs on the revision channel on its own connection and feeds the hub."""

    def __init__(self, dsn: str, hub: RevisionHub) -> None:
        self._dsn = dsn
        self._hub = hub
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="postgres-listener")
        async with asyncio.timeout(30):
            await self.connected.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        parsed = parse_notification(payload)
        if parsed is not None:
            self._hub.publish(*parsed)

    async def _run(self) -> None:
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                connection.add_termination_listener(_setter(lost))
                await connection.add_listener(revision_channel.CHANNEL, self._on_notify)
                # Anything announced while we were not listening is unknown: re-read.
                self._hub.wake_all()
                self.connected.set()
                await lost.wait()
                log.warning("notification connection lost; reconnecting")
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("cannot listen for notifications: %s", error)
            finally:
                self.connected.clear()
                if connection is not None and not connection.is_closed():
                    await connection.close()
            await asyncio.sleep(_RECONNECT_SECONDS)
