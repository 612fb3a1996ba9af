"""`ControlPlaneClient`: the blocking client (the CLI's)."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

import httpx

from sandboxmesh.client import errors
from sandboxmesh.client.base import LIMITS, ClientConfig, build_request
from sandboxmesh.client.endpoints import Call

T = TypeVar("T")


class ControlPlaneClient:
    """`client.send(endpoints.get_sandbox("pr-1"))`; pass `transport` to talk in process."""

    def __init__(
        self, config: ClientConfig, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.config = config
        self._http = httpx.Client(
            base_url=config.url,
            headers=config.headers(),
            timeout=config.timeout,
            limits=LIMITS,
            transport=transport,
        )

    def send(self, call: Call[T]) -> T:
        try:
            response = self._http.send(build_request(self._http, call))
        except httpx.TransportError as error:
            raise errors.ConnectionFailed(
                f"cannot reach the control plane at {self.config.url}: {error}"
            ) from error
        return call.decode(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ControlPlaneClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
