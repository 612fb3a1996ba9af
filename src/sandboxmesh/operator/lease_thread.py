"""The leader election on an event loop, an API client and a thread of its own.

Under a burst (fifty sandboxes at once, on a busy machine), the operator's event loop is
saturated by kopf's event processing and the reconciles: a Lease renewal queued behind them
missed its renew deadline (3.4 s for a 5 s lease) although the API server was up, and the
leader gave up. In a thread of its own, with its own connections, a renewal waits only for
the API server (the GIL hands it a turn every few milliseconds); a slow API server is then
what costs leadership, not our own load.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from lightkube import AsyncClient, KubeConfig

from sandboxmesh.operator import naming
from sandboxmesh.operator.leadership import LeaderElector
from sandboxmesh.operator.settings import LeaderElectionSettings

T = TypeVar("T")


class ElectorThread:
    """`LeaderElector`'s acquire/hold/release, awaited from the caller's loop."""

    def __init__(
        self,
        config: KubeConfig,
        settings: LeaderElectionSettings,
        *,
        on_waiting: Callable[[str], None],
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="leader-election", daemon=True
        )
        self._config, self._settings, self._on_waiting = config, settings, on_waiting
        self._elector: LeaderElector | None = None

    async def start(self) -> None:
        self._thread.start()
        self._elector = await self._run(self._make_elector())

    async def _make_elector(self) -> LeaderElector:
        # Made on the thread's loop: the client's connections belong to it.
        client = AsyncClient(config=self._config, field_manager=naming.FIELD_MANAGER)
        return LeaderElector(client, self._settings, on_waiting=self._on_waiting)

    @property
    def elector(self) -> LeaderElector:
        if self._elector is None:
            raise RuntimeError("ElectorThread used before start()")
        return self._elector

    async def acquire(self) -> None:
        await self._run(self.elector.acquire())

    async def hold(self) -> str:
        return await self._run(self.elector.hold())

    async def release(self) -> None:
        await self._run(self.elector.release())

    async def close(self) -> None:
        if self._elector is not None:
            await self._run(self._elector.client.close())
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _run(self, work: Coroutine[Any, Any, T]) -> T:
        # Cancelling the awaiting task cancels the work on the thread's loop too.
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))
