"""What the sync and async clients share: configuration and request building, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from sandboxmesh import __version__
from sandboxmesh.client.endpoints import Call
from sandboxmesh.spec.protocol import AGENT_VERSION_HEADER

DEFAULT_TIMEOUT = 30.0
#: Idle connections are dropped by the client before a server would close them (uvicorn's
#: default is 5 s, and it is the server that decides): reusing a connection the server is
#: closing at that moment fails a request with "Server disconnected", which a PUT cannot retry.
LIMITS = httpx.Limits(keepalive_expiry=2.0)


@dataclass(frozen=True)
class ClientConfig:
    url: str
    #: An API token (user) or a cluster token (agent).
    token: str
    timeout: float = DEFAULT_TIMEOUT
    #: Sent as X-SandboxMesh-Agent-Version by agents.
    agent_version: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "User-Agent": f"sandboxmesh/{__version__}",
        }
        if self.agent_version:
            headers[AGENT_VERSION_HEADER] = self.agent_version
        return headers


def build_request(http: httpx.Client | httpx.AsyncClient, call: Call[object]) -> httpx.Request:
    extensions = {}
    if call.timeout is not None:
        extensions["timeout"] = httpx.Timeout(call.timeout).as_dict()
    return http.build_request(
        call.method,
        call.path,
        params=call.params or None,
        json=call.json,
        extensions=extensions,
    )
