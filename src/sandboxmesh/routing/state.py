"""The route server's current inputs (route table, addresses, key headers) and change signal.

Owned by one asyncio loop: the Sandbox watch (`controllers.sandbox_watcher`) and callers
setting addresses write it, every xDS stream and the HTTP API read it. Each change bumps
`generation` and wakes the waiters.
"""

from __future__ import annotations

import asyncio
import time

from sandboxmesh.routing.core.gateway import PreviewHost
from sandboxmesh.routing.core.matching import KeyHeaders
from sandboxmesh.routing.core.preview_signin import PreviewKeys
from sandboxmesh.routing.core.table import RouteTable
from sandboxmesh.routing.core.upstreams import ServiceAddresses


class RouteState:
    def __init__(
        self, headers: KeyHeaders, addresses: ServiceAddresses, *, route_traces: bool = True
    ) -> None:
        self.headers = headers
        self.addresses = addresses
        #: Whether routers log traced requests (core/trace.py) to the route server.
        self.route_traces = route_traces
        self.table = RouteTable()
        #: The preview gateway's hosts (from the sandboxes' preview URLs) and the keys that
        #: verify its sign-in tokens (from the agent's ConfigMap; None until it is read).
        self.previews: tuple[PreviewHost, ...] = ()
        self.preview_keys: PreviewKeys | None = None
        self.generation = 0
        #: Whether the table reflects a complete list of Sandbox objects (readiness).
        self.synced = False
        self.updated_at = time.time()
        self._changed = asyncio.Event()

    def _bump(self) -> None:
        self.generation += 1
        self.updated_at = time.time()
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def set_table(
        self,
        table: RouteTable,
        *,
        synced: bool = True,
        previews: tuple[PreviewHost, ...] | None = None,
    ) -> None:
        """Set the table, and the preview hosts when given (they come from the same list)."""
        previews = self.previews if previews is None else previews
        if (table, synced, previews) == (self.table, self.synced, self.previews):
            return
        self.table = table
        self.synced = synced
        self.previews = previews
        self._bump()

    def set_preview_keys(self, keys: PreviewKeys | None) -> None:
        if keys != self.preview_keys:
            self.preview_keys = keys
            self._bump()

    def set_addresses(self, addresses: ServiceAddresses) -> None:
        if addresses != self.addresses:
            self.addresses = addresses
            self._bump()

    async def wait_changed(self, since: int) -> int:
        """Return the generation once it is past `since` (at once if it already is)."""
        while self.generation <= since:
            await self._changed.wait()
        return self.generation
