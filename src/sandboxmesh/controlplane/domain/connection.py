"""A cluster's connection state, derived from when its agent was last heard from."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class ConnectionState(StrEnum):
    CONNECTED = "connected"
    STALE = "stale"
    NEVER_CONNECTED = "never-connected"


def connection_state(
    last_seen: datetime | None, *, now: datetime, stale_after: timedelta
) -> ConnectionState:
    if last_seen is None:
        return ConnectionState.NEVER_CONNECTED
    if now - last_seen > stale_after:
        return ConnectionState.STALE
    return ConnectionState.CONNECTED
