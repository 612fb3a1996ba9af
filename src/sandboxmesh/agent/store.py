"""The cluster side of the agent: the Sandbox and RouteGroup objects it holds (lightkube)."""

from __future__ import annotations

from typing import Any

from lightkube import AsyncClient
from lightkube.types import PatchType

from sandboxmesh import kube
from sandboxmesh.agent.objects import AGENT_LABELS, FIELD_MANAGER


class SandboxStore:
    #: The kind of object held.
    resource: Any = kube.Sandbox
    #: The agent's Sandbox objects, for a list or a list-then-watch.
    held = kube.Selection(kube.Sandbox, labels=AGENT_LABELS)

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def apply(self, body: dict[str, Any]) -> None:
        """Server-side apply: the agent owns the spec and its label and annotation only."""
        await self.client.patch(
            self.resource,
            body["metadata"]["name"],
            body,
            patch_type=PatchType.APPLY,
            field_manager=FIELD_MANAGER,
            force=True,
        )

    async def delete(self, name: str) -> bool:
        """Ask for deletion; False when the object was already gone."""
        return await kube.delete_if_exists(self.client, self.resource, name)

    async def list_held(self) -> list[dict[str, Any]]:
        """The agent's objects of this kind."""
        listing = self.client.list(self.held.resource, **self.held.query())
        return [kube.to_dict(obj) async for obj in listing]


class RouteGroupStore(SandboxStore):
    """The agent's RouteGroup objects: the same writes, another kind."""

    resource = kube.RouteGroup
    held = kube.Selection(kube.RouteGroup, labels=AGENT_LABELS)
