"""The installation's preview signing keys as one process holds them (docs/preview-urls.md).

Read from the store, or created there on first use (repository/preview_keys.py), then kept
for `REFRESH_SECONDS`: the keys change only by a rotation, and every agent's long-poll and
every authorize would otherwise read them. A process sees a rotation made by another one
within that time; the keys published meanwhile still verify the tokens it signs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sandboxmesh.controlplane.domain import preview_keys
from sandboxmesh.controlplane.repository import preview_keys as stored_keys
from sandboxmesh.controlplane.repository.transaction import Tx

REFRESH_SECONDS = 300


@dataclass(frozen=True)
class Keys:
    #: The key that signs.
    signing: preview_keys.SigningKey
    #: Every key to publish (the signing key first), as a JWKS.
    jwks: dict[str, object]
    read_at: datetime


class PreviewKeyring:
    def __init__(self, *, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._refresh = timedelta(seconds=refresh_seconds)
        self._keys: Keys | None = None
        self._lock = asyncio.Lock()

    async def keys(
        self, unit_of_work: Callable[[], AbstractAsyncContextManager[Tx]], now: datetime
    ) -> Keys:
        """The keys, from this process's copy when it is recent, else from the store (in a
        unit of work of its own: call it outside any other)."""
        held = self._keys
        if held is not None and now - held.read_at < self._refresh:
            return held
        async with self._lock:
            held = self._keys
            if held is not None and now - held.read_at < self._refresh:
                return held
            async with unit_of_work() as tx:
                found = await stored_keys.signing_keys(tx, make=preview_keys.new_signing_key)
            held = Keys(signing=found[0], jwks=preview_keys.jwks(found), read_at=now)
            self._keys = held
            return held
