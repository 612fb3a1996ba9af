"""A cluster's connection state, derived from when its agent was last heard from."""

from __future__ import annotations

from datetime import datetime, timedelta

# The states are the API's (the client reads them too); how one is derived is said here.
from sandboxmesh.spec.api.clusters import ConnectionState as ConnectionState


def connection_state(
    last_seen: datetime | None, *, now: datetime, stale_after: timedelta
) -> ConnectionState:
    if last_seen is None:
        return ConnectionState.NEVER_CONNECTED
    if now - last_seen > stale_after:
        return ConnectionState.STALE
    return ConnectionState.CONNECTED
