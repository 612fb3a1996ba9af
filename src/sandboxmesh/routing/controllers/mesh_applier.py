"""Keeps Istio VirtualServices and/or Gateway API HTTPRoutes in step with the route table.

Where a mesh already stands in front of every workload, the route server (`--mesh`) writes
the table as the mesh's routing objects instead of (or besides) serving Envoy routers. On
every table change: render the objects of every forked baseline Service (its ports read from
the Service), apply them by server-side apply, and delete the objects of ours that are no
longer wanted (a baseline whose last fork went).
"""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum
from typing import Any

from lightkube import ALL_NS, AsyncClient, codecs, operators
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Service

from sandboxmesh import kube
from sandboxmesh.routing.core import gateway_api, istio, mesh
from sandboxmesh.routing.core.table import RouteTable
from sandboxmesh.routing.state import RouteState
from sandboxmesh.spec import crd

log = logging.getLogger(__name__)

FIELD_MANAGER = "sandboxmesh-mesh"
RETRY_SECONDS = 2.0

VirtualService = create_namespaced_resource(
    "networking.istio.io", "v1", istio.KIND, "virtualservices"
)
HTTPRoute = create_namespaced_resource(
    "gateway.networking.k8s.io", "v1", gateway_api.KIND, "httproutes"
)


class MeshKind(StrEnum):
    ISTIO = "istio"
    GATEWAY_API = "gateway-api"


_RESOURCES = {MeshKind.ISTIO: VirtualService, MeshKind.GATEWAY_API: HTTPRoute}
_CRDS = {
    MeshKind.ISTIO: "virtualservices.networking.istio.io",
    MeshKind.GATEWAY_API: "httproutes.gateway.networking.k8s.io",
}


async def installed_meshes(client: AsyncClient) -> frozenset[MeshKind]:
    """The meshes whose routing CRD the cluster has (for `--mesh auto`)."""
    found = set()
    for kind, name in _CRDS.items():
        if await kube.get_or_none(client, CustomResourceDefinition, name) is not None:
            found.add(kind)
    return frozenset(found)


class MeshApplier:
    def __init__(
        self,
        client: AsyncClient,
        state: RouteState,
        kinds: frozenset[MeshKind],
        cluster_domain: str = "cluster.local",
    ) -> None:
        self.client = client
        self.state = state
        self.kinds = kinds
        self.cluster_domain = cluster_domain

    async def run(self) -> None:
        """Follow the route state until cancelled; failed calls to the API are retried, an
        error of its own (a bug) ends it with that error."""
        generation = -1
        while True:
            generation = await self.state.wait_changed(generation)
            if not self.state.synced:
                continue  # an empty table before the first list would delete every route
            try:
                await self.sync(self.state.table)
            except kube.CLIENT_ERRORS as error:
                log.warning("mesh: sync failed (%s); retrying", kube.errors.wrap(error))
                await asyncio.sleep(RETRY_SECONDS)
                generation -= 1  # try this generation again

    async def _ports(self, namespace: str, name: str) -> tuple[int, ...] | None:
        service = await kube.get_or_none(self.client, Service, name, namespace=namespace)
        if service is None:
            return None
        return tuple(p.port for p in (service.spec.ports if service.spec else None) or [])

    async def desired(self, table: RouteTable) -> dict[tuple[MeshKind, str, str], dict[str, Any]]:
        wanted: dict[tuple[MeshKind, str, str], dict[str, Any]] = {}
        for baseline in table.baselines():
            ports = await self._ports(baseline.namespace, baseline.name)
            if not ports:
                log.warning("mesh: baseline Service %s not found or without ports", baseline)
                continue
            target = mesh.MeshRoutes(baseline, ports, table.routes_for(baseline))
            manifests: list[tuple[MeshKind, dict[str, Any]]] = []
            if MeshKind.ISTIO in self.kinds:
                vs = istio.virtual_service(target, self.state.headers, self.cluster_domain)
                manifests.append((MeshKind.ISTIO, vs))
            if MeshKind.GATEWAY_API in self.kinds:
                for route in gateway_api.http_routes(target, self.state.headers):
                    manifests.append((MeshKind.GATEWAY_API, route))
            for kind, manifest in manifests:
                meta = manifest["metadata"]
                wanted[(kind, meta["namespace"], meta["name"])] = manifest
        return wanted

    async def sync(self, table: RouteTable) -> None:
        wanted = await self.desired(table)
        for manifest in wanted.values():
            await self.client.apply(
                codecs.from_dict(manifest), field_manager=FIELD_MANAGER, force=True
            )
        labels: dict[str, Any] = {
            crd.LABEL_MANAGED_BY: crd.MANAGED_BY,
            mesh.LABEL_BASELINE: operators.exists(),
        }
        for kind in self.kinds:
            resource = _RESOURCES[kind]
            found: Any = self.client.list(resource, namespace=ALL_NS, labels=labels)
            async for obj in found:
                raw = kube.to_dict(obj)
                namespace, name = raw["metadata"]["namespace"], raw["metadata"]["name"]
                if (kind, namespace, name) not in wanted:
                    await self.client.delete(resource, name, namespace=namespace)
                    log.info("mesh: deleted %s %s/%s", resource.__name__, namespace, name)
