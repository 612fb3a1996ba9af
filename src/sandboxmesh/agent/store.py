"""The cluster side of the agent: the Sandbox objects it holds (lightkube)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_global_resource
from lightkube.types import PatchType

from sandboxmesh.agent.objects import AGENT_LABELS, FIELD_MANAGER
from sandboxmesh.spec.crd import GROUP, KIND, PLURAL, VERSION

Sandbox = create_global_resource(GROUP, VERSION, KIND, PLURAL)


def _to_dict(obj: Any) -> dict[str, Any]:
    body: dict[str, Any] = obj.to_dict()
    return body


class SandboxStore:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def apply(self, body: dict[str, Any]) -> None:
        """Server-side apply: the agent owns the spec and its label and annotation only."""
        await self.client.patch(
            Sandbox,
            body["metadata"]["name"],
            body,
            patch_type=PatchType.APPLY,
            field_manager=FIELD_MANAGER,
            force=True,
        )

    async def delete(self, name: str) -> bool:
        """Ask for deletion; False when the object was already gone."""
        try:
            await self.client.delete(Sandbox, name)
        except ApiError as error:
            if error.status.code == 404:
                return False
            raise
        return True

    async def list_held(self) -> tuple[list[dict[str, Any]], str]:
        """The agent's Sandbox objects and the resourceVersion to watch from."""
        listing = self.client.list(Sandbox, labels=dict(AGENT_LABELS))
        bodies = [_to_dict(obj) async for obj in listing]
        return bodies, listing.resourceVersion

    async def watch(self, resource_version: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        async for event, obj in self.client.watch(
            Sandbox, labels=dict(AGENT_LABELS), resource_version=resource_version
        ):
            yield event, _to_dict(obj)
