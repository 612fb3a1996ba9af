"""A process's long-running tasks, and what happens when one of them ends.

The route server and the agent each run a few tasks that should last as long as the process
(an HTTP server, watches, pollers, controllers); failures of the APIs they call they retry
themselves. One that ends all the same, by an error (a bug) or by returning, leaves the
process up but no longer doing its job. The supervisor then records why (`failure`, which
the process's /readyz shows), logs it in one line (what failed, the error's type and its
cause; the traceback at DEBUG), calls `on_failure` and sets `failed`; the process then stops
and exits non-zero, so that its Pod is restarted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


def describe_failure(name: str, error: BaseException | None) -> str:
    """One line: what ended, the error's type and message, and its cause's.

    A group of one error (what an `asyncio.TaskGroup` raises when one of its tasks fails)
    is described by that error.
    """
    if error is None:
        return f"{name} ended by itself"
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    text = f"{name} failed: {type(error).__name__}: {error}"
    cause = error.__cause__ or error.__context__
    if cause is not None:
        text += f" (caused by {type(cause).__name__}: {cause})"
    return text


def _nothing(failure: str) -> None:
    pass


class Supervisor:
    """Owned by one asyncio loop: `spawn` the tasks; `stop` ends them, which is no failure.

    `owner` names the process in the log line ("route server", "agent").
    """

    def __init__(self, owner: str, *, on_failure: Callable[[str], None] = _nothing) -> None:
        self.owner = owner
        self.on_failure = on_failure
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
        log.error("%s: %s; not ready from now on", self.owner, self.failure)
        if error is not None:
            log.debug("%s: traceback of the failure", self.owner, exc_info=error)
        self.on_failure(self.failure)
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
