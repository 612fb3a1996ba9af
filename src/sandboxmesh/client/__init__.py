"""The HTTP client of the control plane API, shared by the CLI, the agent and the tests.

    from sandboxmesh.client import ClientConfig, ControlPlaneClient, endpoints
    with ControlPlaneClient(ClientConfig(url, token)) as client:
        client.send(endpoints.get_sandbox("pr-42"))

Management calls answer the API's models, `sandboxmesh.spec.api` (the server's own); agent-protocol
calls answer those of `sandboxmesh.spec.protocol`. Failures raise `sandboxmesh.client.errors`.
"""

from sandboxmesh.client import endpoints, errors
from sandboxmesh.client.async_client import AsyncControlPlaneClient
from sandboxmesh.client.base import ClientConfig
from sandboxmesh.client.endpoints import Call
from sandboxmesh.client.errors import ApiError, ClientError, ConnectionFailed
from sandboxmesh.client.sync_client import ControlPlaneClient

__all__ = [
    "ApiError",
    "AsyncControlPlaneClient",
    "Call",
    "ClientConfig",
    "ClientError",
    "ConnectionFailed",
    "ControlPlaneClient",
    "endpoints",
    "errors",
]
