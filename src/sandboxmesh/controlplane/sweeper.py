"""The TTL sweeper: a background task that marks expired sandboxes for deletion.

Every server process runs one; the conditional update in `mark_deleting` makes the sweeps of
several processes safe to overlap (and `SKIP LOCKED` keeps them off each other's rows).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def sweep_forever(sweep: Callable[[], Awaitable[list[str]]], interval: float) -> None:
    while True:
        try:
            expired = await sweep()
            if expired:
                log.info("ttl expired", extra={"sandboxes": expired})
        except Exception:
            # A failed sweep (database restarting, say) is retried at the next tick.
            log.exception("ttl sweep failed")
        await asyncio.sleep(interval)
