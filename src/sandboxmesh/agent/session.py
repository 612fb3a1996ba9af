"""The agent's connection to the control plane, and what it does about its token.

Before each call it looks at the token source (cheap: a file read, or a Secret cached a few
seconds), so a rotated token is used as soon as it is written. When the control plane refuses
the token and the source holds no other, the token was revoked (or expired): the agent says so
in one line and makes no call at all until the token changes, so there is no retry storm.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TypeVar

import httpx

from sandboxmesh import __version__
from sandboxmesh.agent.metrics import AgentMetrics
from sandboxmesh.agent.tokens import TokenSource, TokenUnavailable, describe
from sandboxmesh.client import errors
from sandboxmesh.client.async_client import AsyncControlPlaneClient
from sandboxmesh.client.base import ClientConfig
from sandboxmesh.client.endpoints import Call

log = logging.getLogger(__name__)

T = TypeVar("T")


class ControlPlaneSession:
    def __init__(
        self,
        url: str,
        tokens: TokenSource,
        metrics: AgentMetrics,
        *,
        token_poll_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.tokens = tokens
        self.metrics = metrics
        self.token_poll_seconds = token_poll_seconds
        self.transport = transport
        #: Set while the control plane accepts our token; `refused` while it refuses it.
        self.authorized = asyncio.Event()
        self.refused = asyncio.Event()
        self._client: AsyncControlPlaneClient | None = None
        # Clients of earlier tokens with calls still in flight (a long-poll may wait for
        # minutes): each is closed when its last call returns.
        self._retired: set[AsyncControlPlaneClient] = set()
        self._in_flight: dict[AsyncControlPlaneClient, int] = {}
        self._lock = asyncio.Lock()

    async def send(self, call: Call[T]) -> T:
        """Send `call`, switching tokens as needed; waits (without calling) while revoked."""
        while True:
            client = await self._current_client()
            self._in_flight[client] = self._in_flight.get(client, 0) + 1
            try:
                result = await client.send(call)
            except errors.Unauthorized:
                await self._recover(client.config.token)
                continue
            finally:
                await self._release(client)
            self._set_authorized(True)
            return result

    @property
    def open_clients(self) -> int:
        """HTTP clients not closed yet: the current one and retired ones still in use."""
        return len(self._retired) + (self._client is not None)

    async def aclose(self) -> None:
        for client in [*self._retired, self._client]:
            if client is not None:
                await client.aclose()
        self._retired.clear()
        self._client = None

    async def _release(self, client: AsyncControlPlaneClient) -> None:
        left = self._in_flight.pop(client) - 1
        if left:
            self._in_flight[client] = left
        elif client in self._retired:
            self._retired.discard(client)
            await client.aclose()

    async def _current_client(self) -> AsyncControlPlaneClient:
        async with self._lock:
            token = await self.tokens.read()
            if self._client is None or self._client.config.token != token:
                await self._swap(token)
            assert self._client is not None
            return self._client

    async def _swap(self, token: str) -> None:
        previous = self._client
        if previous is not None:
            log.info("using the new cluster token %s", describe(token))
            if previous in self._in_flight:
                self._retired.add(previous)  # closed by its last call's `_release`
            else:
                await previous.aclose()
        config = ClientConfig(url=self.url, token=token, agent_version=__version__)
        self._client = AsyncControlPlaneClient(config, transport=self.transport)

    async def _recover(self, rejected: str) -> None:
        async with self._lock:
            if self._client is not None and self._client.config.token != rejected:
                return  # another task already moved on to a new token
            token = await self._read_fresh(rejected)
            if token != rejected:
                await self._swap(token)
                return
            self._set_authorized(False)
            log.error(
                "the control plane refused the cluster token %s (revoked or expired): sync is "
                "stopped until a new token is written to the token file or Secret",
                describe(rejected),
            )
            while token == rejected:
                await asyncio.sleep(self.token_poll_seconds)
                token = await self._read_fresh(rejected)
            log.info("a new cluster token %s was written; resuming", describe(token))
            await self._swap(token)

    async def _read_fresh(self, fallback: str) -> str:
        try:
            return await self.tokens.read(fresh=True)
        except TokenUnavailable as error:
            log.warning("%s", error)
            return fallback

    def _set_authorized(self, value: bool) -> None:
        if value:
            self.authorized.set()
            self.refused.clear()
        else:
            self.authorized.clear()
            self.refused.set()
        self.metrics.authorized.set(1 if value else 0)
