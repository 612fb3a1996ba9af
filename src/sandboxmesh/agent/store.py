"""The cluster side of the agent: the Sandbox objects it holds (lightkube)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.types import PatchType

from sandboxmesh import kube
from sandboxmesh.agent.objects import AGENT_LABELS, FIELD_MANAGER


class SandboxStore:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def apply(self, body: dict[str, Any]) -> None:
        """Server-side apply: the agent owns the spec and its label and annotation only."""
        await self.client.patch(
            kube.Sandbox,
            body["metadata"]["name"],
            body,
            patch_type=PatchType.APPLY,
            field_manager=FIELD_MANAGER,
            force=True,
        )

    async def delete(self, name: str) -> bool:
        """Ask for deletion; False when the object was already gone."""
        try:
            await self.client.delete(kube.Sandbox, name)
        except ApiError as error:
            if error.status.code == 404:
                return False
            raise
        return True

    async def list_held(self) -> tuple[list[dict[str, Any]], str]:
        """The agent's Sandbox objects and the resourceVersion to watch from."""
        listing = self.client.list(kube.Sandbox, labels=dict(AGENT_LABELS))
        bodies = [kube.to_dict(obj) async for obj in listing]
        return bodies, listing.resourceVersion

    async def watch(self, resource_version: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        async for event, obj in self.client.watch(
            kube.Sandbox, labels=dict(AGENT_LABELS), resource_version=resource_version
        ):
            yield event, kube.to_dict(obj)
