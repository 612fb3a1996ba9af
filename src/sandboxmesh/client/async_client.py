"""`AsyncControlPlaneClient`: the asyncio client (the agent's and the tests')."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

import httpx

from sandboxmesh.client import errors
from sandboxmesh.client.base import LIMITS, ClientConfig, build_request
from sandboxmesh.client.endpoints import Call

T = TypeVar("T")


class AsyncControlPlaneClient:
    """`await client.send(endpoints.assignments(0, wait=30))`.

    With `transport=httpx.ASGITransport(app)` it talks to an in-process control plane.
    """

    def __init__(
        self, config: ClientConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self._http = httpx.AsyncClient(
            base_url=config.url,
            headers=config.headers(),
            timeout=config.timeout,
            limits=LIMITS,
            transport=transport,
        )

    async def send(self, call: Call[T]) -> T:
        try:
            response = await self._http.send(build_request(self._http, call))
        except httpx.TransportError as error:
            raise errors.ConnectionFailed(
                f"cannot reach the control plane at {self.config.url}: {error}"
            ) from error
        return call.decode(response)

    def with_token(self, token: str) -> AsyncControlPlaneClient:
        """A client like this one with another token, sharing nothing but the transport."""
        config = ClientConfig(
            url=self.config.url,
            token=token,
            timeout=self.config.timeout,
            agent_version=self.config.agent_version,
        )
        return AsyncControlPlaneClient(config, transport=self._http._transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncControlPlaneClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
