"""The objects the operator generates in the cluster: applied, listed, pruned, deleted.

Everything generated for a sandbox carries its managed labels, so listing by label finds it
in every namespace the operator may look in, whether or not the Sandbox's status recorded it
(the operator may have died between applying an object and writing status).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.core_v1 import Pod, Service
from lightkube.types import CascadeType, PatchType

from sandboxmesh import kube
from sandboxmesh.operator import naming
from sandboxmesh.operator.forks import Manifest

log = logging.getLogger(__name__)

Kind = type[Deployment] | type[Service] | type[ReplicaSet] | type[Pod]
#: Kinds the operator applies, and those that inherit its labels (ReplicaSets, Pods): a
#: deletion waits for all of them.
APPLIED: tuple[Kind, ...] = (Deployment, Service)
GENERATED: tuple[Kind, ...] = (Deployment, Service, ReplicaSet, Pod)


@dataclass(frozen=True)
class Listed:
    kind: str
    namespace: str
    name: str
    deleting: bool

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass
class GeneratedObjects:
    client: AsyncClient
    #: Namespaces the operator may fork in; None means every namespace.
    namespaces: frozenset[str] | None
    #: The generation of each fork Deployment as last applied, by (namespace, name).
    applied_generations: dict[tuple[str, str], int] = field(default_factory=dict)

    async def apply(self, kind: Kind, manifest: Manifest) -> Manifest:
        """Server-side apply under the operator's field manager; returns the live object."""
        metadata = manifest["metadata"]
        applied = await self.client.patch(
            kind,
            metadata["name"],
            manifest,
            namespace=metadata["namespace"],
            patch_type=PatchType.APPLY,
            field_manager=naming.FIELD_MANAGER,
            force=True,
        )
        result = kube.to_dict(applied)
        if kind is Deployment:
            meta = result["metadata"]
            self.applied_generations[(meta["namespace"], meta["name"])] = meta["generation"]
        return result

    async def prune(self, sandbox: str, keep: set[tuple[str, str, str]]) -> None:
        """Delete generated objects that the spec no longer asks for (a fork removed)."""
        for kind in APPLIED:
            async for ref in self.listed(kind, sandbox):
                if (ref.kind, ref.namespace, ref.name) not in keep:
                    log.info("sandbox %s: deleting %s, no longer in its spec", sandbox, ref)
                    await self.delete(kind, ref.name, ref.namespace)

    async def delete_all(self, sandbox: str) -> list[str]:
        """Delete everything generated for `sandbox`; returns what still exists."""
        for kind in APPLIED:
            async for ref in self.listed(kind, sandbox):
                if not ref.deleting:
                    await self.delete(kind, ref.name, ref.namespace)
        return [str(ref) for kind in GENERATED async for ref in self.listed(kind, sandbox)]

    async def listed(self, kind: Kind, sandbox: str) -> AsyncIterator[Listed]:
        """The objects of `kind` labelled as generated for `sandbox`, where we may look."""
        for namespace in self._namespaces():
            async for obj in self.client.list(
                kind, namespace=namespace, labels=dict(naming.managed_labels(sandbox))
            ):
                meta = obj.metadata
                if meta is None or not meta.name or not meta.namespace:
                    raise ValueError(f"a listed {kind.__name__} without name or namespace")
                yield Listed(
                    kind.__name__, meta.namespace, meta.name, meta.deletionTimestamp is not None
                )

    async def delete(self, kind: Kind, name: str, namespace: str) -> None:
        try:
            # Foreground: a Deployment stays until its ReplicaSets and Pods are gone, so
            # "nothing left" can be checked on the Deployments alone during deletion.
            await self.client.delete(
                kind, name, namespace=namespace, cascade=CascadeType.FOREGROUND
            )
        except kube.CLIENT_ERRORS as error:
            if not kube.errors.is_not_found(error):
                raise

    def _namespaces(self) -> list[str]:
        if self.namespaces is None:
            return ["*"]
        return sorted(self.namespaces)
