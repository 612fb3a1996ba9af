"""The route server's long-running tasks, and what happens when one of them ends.

Each of them (the HTTP server, the Sandbox watch, the router controller, the mesh applier)
runs until the server stops; failures of the API they retry themselves. One that ends all
the same, by an error or by returning, leaves the server up with routes that no longer
follow the cluster. The supervisor then records why (`failure`, which /readyz shows), logs
it in one line (what failed, the error's type and its cause), and sets `failed`; the route
server process exits non-zero on it, so that its Pod is restarted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


def describe_failure(name: str, error: BaseException | None) -> str:
    """One line: what ended, the error's type and message, and its cause's."""
    if error is None:
        return f"{name} ended by itself"
    text = f"{name} failed: {type(error).__name__}: {error}"
    cause = error.__cause__ or error.__context__
    if cause is not None:
        text += f" (caused by {type(cause).__name__}: {cause})"
    return text


class Supervisor:
    """Owned by one asyncio loop: `spawn` the tasks; `stop` ends them, which is no failure."""

    def __init__(self) -> None:
        #: Why the first task that ended by itself ended; None while all run.
        self.failure: str | None = None
        self.failed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    def spawn(self, name: str, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        if self._stopping or task.cancelled():
            return
        error = task.exception()
        if self.failure is not None:
            return  # the first failure is the one to tell; others follow from it
        self.failure = describe_failure(task.get_name(), error)
        log.error("route server: %s; not ready from now on", self.failure)
        if error is not None:
            log.debug("route server: traceback of the failure", exc_info=error)
        self.failed.set()

    def begin_stop(self) -> None:
        """From now on a task that ends is being stopped, not failing (e.g. the HTTP server
        told to exit before `stop`)."""
        self._stopping = True

    async def stop(self) -> None:
        """Cancel every task and wait for them."""
        self.begin_stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
