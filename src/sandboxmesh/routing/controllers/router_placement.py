"""Placement B, the I/O: puts routers in front of opted-in Services and takes them away.

Event-driven: watches of Services, router Deployments and EndpointSlices each kick the
reconcile of one Service; reconciles of one Service never overlap. Each reconcile moves the
Service at most one step (routers.Stage) and only between Ready endpoints:

- Installing: apply the router objects; once the router Deployment has a Ready replica, switch
  the selector (a JSON patch guarded by resourceVersion).
- Removing: restore the selector; once the Service's EndpointSlices no longer list a router
  Pod, wait `drain_seconds` (kube-proxy catching up) and delete the router objects.

The three watches and every reconcile run in one task group: one that ends by an error of
its own (a bug; failures of the API are retried) ends the others and `run`, for the route
server's supervisor, rather than leaving a watch or a Service silently behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from lightkube import ALL_NS, AsyncClient, codecs, operators
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Service
from lightkube.resources.discovery_v1 import EndpointSlice
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.types import PatchType

from sandboxmesh import kube
from sandboxmesh.routing.core import routers
from sandboxmesh.routing.core.routers import Refused, RouterSettings, Stage

log = logging.getLogger(__name__)

Key = tuple[str, str]
RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class RouterControllerSettings:
    router: RouterSettings = field(default_factory=RouterSettings)
    #: How long endpoints without routers settle before the routers go.
    drain_seconds: float = 5.0


class RouterController:
    def __init__(self, client: AsyncClient, settings: RouterControllerSettings) -> None:
        self.client = client
        self.settings = settings
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._dirty: set[Key] = set()
        self._removing: set[Key] = set()
        self._group: asyncio.TaskGroup | None = None

    async def run(self) -> None:
        """Watch until cancelled; an error of its own (a bug) in a watch or a reconcile ends
        it with that error (in an ExceptionGroup, as a TaskGroup raises it)."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            group.create_task(self._watch(Service, {}, self._on_service))
            group.create_task(
                self._watch(Deployment, {routers.LABEL_ROUTER: operators.exists()}, self._on_router)
            )
            group.create_task(self._watch(EndpointSlice, {}, self._on_slice))

    async def _watch(
        self, resource: Any, labels: dict[str, Any], handle: Callable[[dict[str, Any]], None]
    ) -> NoReturn:
        # Every listed object is handled as an event would be: the reconcile is level-based.
        def listed(objects: list[dict[str, Any]]) -> None:
            for obj in objects:
                handle(obj)

        await kube.list_then_watch(
            self.client,
            kube.Selection(resource, namespace=ALL_NS, labels=labels),
            listed,
            lambda _event, obj: handle(obj),
        )

    def _on_service(self, service: dict[str, Any]) -> None:
        meta = service["metadata"]
        annotations = meta.get("annotations") or {}
        if (
            routers.ANNOTATION_ROUTE in annotations
            or routers.ANNOTATION_ROUTE_STATUS in annotations
            or routers.ANNOTATION_BASELINE_SELECTOR in annotations
        ):
            self.kick((meta["namespace"], meta["name"]))

    def _on_router(self, deployment: dict[str, Any]) -> None:
        meta = deployment["metadata"]
        self.kick((meta["namespace"], meta["labels"][routers.LABEL_ROUTER]))

    def _on_slice(self, endpoint_slice: dict[str, Any]) -> None:
        meta = endpoint_slice["metadata"]
        service = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if service and (meta["namespace"], service) in self._removing:
            self.kick((meta["namespace"], service))

    def kick(self, key: Key) -> None:
        """Reconcile `key` soon; after the running reconcile of it, if there is one.

        Called by the watches, so while `run` runs.
        """
        if key in self._running:
            self._dirty.add(key)
            return
        assert self._group is not None, "kick() runs within run()"
        self._running[key] = self._group.create_task(self._reconcile_until_clean(key))

    async def _reconcile_until_clean(self, key: Key) -> None:
        try:
            while True:
                self._dirty.discard(key)
                try:
                    await self.reconcile(*key)
                except kube.CLIENT_ERRORS as error:
                    log.warning("routers: %s/%s: %s; retrying", *key, kube.errors.wrap(error))
                    await asyncio.sleep(RETRY_SECONDS)
                    self._dirty.add(key)
                if key not in self._dirty:
                    return
        finally:
            self._running.pop(key, None)

    async def _get(self, resource: Any, namespace: str, name: str) -> dict[str, Any] | None:
        found = await kube.get_or_none(self.client, resource, name, namespace=namespace)
        return None if found is None else kube.to_dict(found)

    async def _status(self, service: dict[str, Any], text: str) -> None:
        meta = service["metadata"]
        if (meta.get("annotations") or {}).get(routers.ANNOTATION_ROUTE_STATUS) == text:
            return
        await self.client.patch(
            Service,
            meta["name"],
            {"metadata": {"annotations": {routers.ANNOTATION_ROUTE_STATUS: text}}},
            namespace=meta["namespace"],
            patch_type=PatchType.MERGE,
        )

    async def reconcile(self, namespace: str, name: str) -> Stage | None:
        service = await self._get(Service, namespace, name)
        if service is None:
            self._removing.discard((namespace, name))
            return None  # the router objects, owned by it, follow it
        stage = routers.stage(service)
        step: dict[Stage, Callable[[dict[str, Any]], Awaitable[None]]] = {
            Stage.INSTALLING: self._install,
            Stage.ROUTED: self._keep,
            Stage.REMOVING: self._restore,
            Stage.UNROUTED: self._clean_up,
        }
        await step[stage](service)
        return stage

    async def _apply_router_objects(self, service: dict[str, Any]) -> bool:
        try:
            objects = routers.router_objects(service, self.settings.router)
        except Refused as refusal:
            log.warning("routers: not routing: %s", refusal)
            await self._status(service, f"Refused: {refusal}")
            return False
        for manifest in objects:
            await self.client.apply(
                codecs.from_dict(manifest), field_manager=routers.FIELD_MANAGER, force=True
            )
        return True

    async def _install(self, service: dict[str, Any]) -> None:
        if not await self._apply_router_objects(service):
            return
        meta = service["metadata"]
        router = await self._get(Deployment, meta["namespace"], routers.router_name(meta["name"]))
        if not router or not (router.get("status") or {}).get("readyReplicas"):
            await self._status(service, "Installing: waiting for a Ready router")
            return  # the Deployment watch kicks again when it changes
        service = await self._get(Service, meta["namespace"], meta["name"]) or service
        if routers.stage(service) is Stage.INSTALLING:
            await self.client.patch(
                Service,
                meta["name"],
                routers.switch_to_routers(service),
                namespace=meta["namespace"],
                patch_type=PatchType.JSON,
            )
            log.info("routers: %s/%s now goes through its routers", meta["namespace"], meta["name"])

    async def _keep(self, service: dict[str, Any]) -> None:
        if await self._apply_router_objects(service):
            await self._status(service, "Routed")

    async def _restore(self, service: dict[str, Any]) -> None:
        meta = service["metadata"]
        if not routers.original_selector(service):
            await self._status(service, "Refused: the baseline selector annotation is gone")
            return
        self._removing.add((meta["namespace"], meta["name"]))
        await self.client.patch(
            Service,
            meta["name"],
            routers.switch_to_baseline(service),
            namespace=meta["namespace"],
            patch_type=PatchType.JSON,
        )
        log.info("routers: %s/%s back on its own Pods", meta["namespace"], meta["name"])
        # The EndpointSlice watch kicks the clean-up once the slices follow.

    async def _router_endpoints(self, namespace: str, service: str) -> int:
        prefix = routers.router_name(service) + "-"
        count = 0
        async for endpoint_slice in self.client.list(
            EndpointSlice, namespace=namespace, labels={"kubernetes.io/service-name": service}
        ):
            for endpoint in endpoint_slice.endpoints or []:
                target = endpoint.targetRef
                if target is not None and (target.name or "").startswith(prefix):
                    count += 1
        return count

    async def _clean_up(self, service: dict[str, Any]) -> None:
        meta = service["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        annotations = meta.get("annotations") or {}
        if routers.ANNOTATION_ROUTE_STATUS not in annotations:
            return
        if await self._router_endpoints(namespace, name):
            self._removing.add((namespace, name))
            return  # wait for the EndpointSlice controller
        await asyncio.sleep(self.settings.drain_seconds)
        for resource, object_name in (
            (PodDisruptionBudget, routers.router_name(name)),
            (Deployment, routers.router_name(name)),
            (ConfigMap, routers.router_name(name)),
            (Service, routers.baseline_copy_name(name)),
        ):
            await kube.delete_if_exists(self.client, resource, object_name, namespace=namespace)
        await self.client.patch(
            Service,
            name,
            {"metadata": {"annotations": {routers.ANNOTATION_ROUTE_STATUS: None}}},
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
        self._removing.discard((namespace, name))
        log.info("routers: %s/%s routers removed", namespace, name)
