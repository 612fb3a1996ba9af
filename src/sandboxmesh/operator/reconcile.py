"""The reconciler: reads the cluster, calls the pure fork and status functions, applies.

Level-based and idempotent: whatever triggered it (a Sandbox change, a fork Deployment's
rollout, a baseline appearing, a resync), a reconcile recomputes everything from the Sandbox
and the baselines and converges with server-side apply under one field manager. Triggers for
the same sandbox are serialised and coalesced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod, Service
from lightkube.types import PatchType
from pydantic import ValidationError

from sandboxmesh import kube
from sandboxmesh.backoff import Backoff
from sandboxmesh.operator import naming
from sandboxmesh.operator.forks import (
    ForkError,
    Manifest,
    SandboxIdentity,
    check_supported,
    desired_fork,
)
from sandboxmesh.operator.generated import GeneratedObjects
from sandboxmesh.operator.metrics import OperatorMetrics
from sandboxmesh.operator.previews import preview_urls
from sandboxmesh.operator.settings import ForkingSettings
from sandboxmesh.operator.status import (
    ForkObservation,
    Previews,
    fork_deployment_name,
    fork_status,
    rollout_complete,
    sandbox_status,
    terminating_status,
    with_rollout,
)
from sandboxmesh.spec import ConditionType, Phase, Reason, SandboxStatus, conditions
from sandboxmesh.spec.crd import API_VERSION, KIND, LABEL_SANDBOX, SandboxResourceSpec

log = logging.getLogger(__name__)

#: Retries of a failed reconcile: full jitter, up to 1 s at first, doubling to a minute.
RETRY_INITIAL = 1.0
RETRY_MAXIMUM = 60.0

#: Posts a Kubernetes Event about a Sandbox: (sandbox body, type, reason, message).
EventPoster = Callable[[dict[str, Any], str, str, str], None]


@dataclass
class Reconciler:
    client: AsyncClient
    settings: ForkingSettings
    metrics: OperatorMetrics
    post_event: EventPoster = lambda body, type_, reason, message: None
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    #: Work waiting for each sandbox's lock; later triggers merge into it.
    _queued: dict[str, _Request] = field(default_factory=dict)
    #: The generation each sandbox was last reconciled at, in this process.
    _reconciled: dict[str, int] = field(default_factory=dict)
    #: A retry waiting after a failed reconcile, and the backoff of each failing sandbox.
    _retrying: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _backoffs: dict[str, Backoff] = field(default_factory=dict)
    objects: GeneratedObjects = field(init=False)
    _slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.objects = GeneratedObjects(self.client, self.settings.namespaces)
        self._slots = asyncio.Semaphore(self.settings.concurrent_reconciles)

    # -- triggers ----------------------------------------------------------------------------

    async def trigger(self, name: str, *, full: bool = False) -> None:
        """Reconcile `name` soon; a trigger arriving while one is already queued joins it.

        `full` also lists what exists to prune strays, which a reconcile otherwise does only
        when the spec changed since the last status (e.g. after a crash between applying an
        update's objects and writing its status), and reads the Pods of forks rolling out.
        """
        await self._enqueue(name, _Request(reconcile=True, full=full, pods=full))

    async def created(self, name: str, generation: int) -> None:
        """A new sandbox: reconcile it unless this process already has at this generation
        (its ADDED event is handled at once, before kopf's own cycle: see handlers)."""
        if self._reconciled.get(name, 0) >= generation:
            return
        await self.trigger(name)

    async def pods_in_trouble(self, sandbox: str) -> None:
        """A fork's Pod cannot pull its image or keeps crashing: reconcile, so the status
        says so (its Deployment's status does not change while the kubelet retries)."""
        await self._enqueue(sandbox, _Request(reconcile=True, pods=True))

    async def rollout_changed(self, sandbox: str, deployment: Manifest) -> None:
        """A fork Deployment's status changed: refresh the sandbox's readiness from it.

        When the Deployment is not at the generation we applied (someone else changed it, or
        we restarted), reconcile instead: that re-applies it and reads everything afresh.
        """
        meta = deployment["metadata"]
        # A rollout event of a Deployment still at the generation we applied needs only its
        # readiness read, not a reconcile.
        applied = self.objects.applied_generations.get((meta["namespace"], meta["name"]))
        if applied != meta.get("generation"):
            await self.trigger(sandbox)
            return
        await self._enqueue(sandbox, _Request(deployments={meta["name"]: deployment}))

    async def _enqueue(self, name: str, request: _Request) -> None:
        queued = self._queued.get(name)
        if queued is not None:
            queued.merge(request)
            return
        self._queued[name] = request
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock, self._slots:
            # Popped once a slot is free: triggers arriving while it waits join it.
            request = self._queued.pop(name)
            try:
                if request.reconcile:
                    await self._measured(
                        name, self._reconcile(name, full=request.full, pods=request.pods)
                    )
                else:
                    await self._measured(name, self._refresh(name, request.deployments))
            except kube.CLIENT_ERRORS:
                self._retry_later(name)
                raise
            self._backoffs.pop(name, None)

    def _retry_later(self, name: str) -> None:
        """After a failure, a full reconcile again with backoff, whatever triggered it (an
        event is not repeated; the resync is minutes away)."""
        if name in self._retrying:
            return
        backoff = self._backoffs.setdefault(name, Backoff(RETRY_INITIAL, RETRY_MAXIMUM))
        delay = backoff.next_delay()
        self.metrics.retries.inc()
        log.info("sandbox %s: reconciling again in %.1fs", name, delay)
        self._retrying[name] = asyncio.create_task(self._retry(name, delay), name=f"retry {name}")

    async def _retry(self, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        del self._retrying[name]
        with contextlib.suppress(*kube.CLIENT_ERRORS):  # logged, counted, retried again
            await self.trigger(name, full=True)

    def close(self) -> None:
        """Cancel the retries waiting (the operator is stopping)."""
        for task in self._retrying.values():
            task.cancel()
        self._retrying.clear()

    # -- reconcile ---------------------------------------------------------------------------

    async def reconcile(self, name: str, *, full: bool = True) -> SandboxStatus | None:
        return await self._measured(name, self._reconcile(name, full=full, pods=full))

    async def _measured(
        self, name: str, work: Coroutine[Any, Any, SandboxStatus | None]
    ) -> SandboxStatus | None:
        started = time.monotonic()
        try:
            status = await work
        except kube.CLIENT_ERRORS as error:
            self.metrics.reconciles.labels(result="error").inc()
            self.metrics.errors.labels(reason=Reason.API_ERROR).inc()
            # wrap() names the client's error type: some (a timeout) have no message at all.
            log.warning("reconciling sandbox %s failed: %s", name, kube.errors.wrap(error))
            raise
        finally:
            self.metrics.duration.observe(time.monotonic() - started)
        self.metrics.reconciles.labels(result="ok").inc()
        return status

    async def _reconcile(self, name: str, *, full: bool, pods: bool = True) -> SandboxStatus | None:
        found = await kube.get_or_none(self.client, kube.Sandbox, name)
        if found is None:
            self.metrics.observe_phase(name, None)
            return None
        body = kube.to_dict(found)
        if body["metadata"].get("deletionTimestamp"):
            return None  # the finalizer handler owns deletion
        previous = _parse_status(body)
        generation = int(body["metadata"].get("generation", 1))
        try:
            spec = SandboxResourceSpec.model_validate(body.get("spec") or {})
        except ValidationError as error:
            return await self._write_invalid(body, previous, generation, error)

        identity = SandboxIdentity(name, body["metadata"]["uid"], spec.routing_key)
        troubled = _forks_in_trouble(previous)
        services_by_namespace: dict[str, list[Manifest]] = {}
        observations: list[ForkObservation] = []
        keep: set[tuple[str, str, str]] = set()
        for fork in spec.forks:
            try:
                check_supported(fork, self.settings.namespaces)
                baseline = await self._baseline(fork.fork_of.namespace, fork.fork_of.name)
                namespace = fork.fork_of.namespace
                if namespace not in services_by_namespace:
                    services_by_namespace[namespace] = await self._baseline_services(namespace)
                desired = desired_fork(identity, fork, baseline, services_by_namespace[namespace])
            except ForkError as error:
                observations.append(ForkObservation(fork, error=error))
                continue
            live = await self.objects.apply(Deployment, desired.deployment)
            for service in desired.services:
                await self.objects.apply(Service, service)
            keep.update((r.kind, r.namespace, r.name) for r in desired.object_refs())
            read_pods = pods or desired.deployment["metadata"]["name"] in troubled
            pods_now = await self._pods_while_rolling_out(live) if read_pods else []
            observations.append(
                ForkObservation(fork, desired=desired, deployment=live, pods=pods_now)
            )

        # A sandbox's first reconcile has nothing of its own to prune: a stray of an earlier
        # sandbox of the same name belongs to that one's uid, and the garbage collector takes it.
        if full or (previous is not None and previous.observed_generation != generation):
            await self.objects.prune(name, keep)
        status = sandbox_status(
            generation=generation,
            routing_key=spec.routing_key,
            forks=[fork_status(o) for o in observations],
            previous=previous,
            now=datetime.now(UTC),
            previews=await self._previews(spec, observations, services_by_namespace),
        )
        await self._write_status(body, previous, status)
        self._reconciled[name] = generation
        return status

    async def _previews(
        self,
        spec: SandboxResourceSpec,
        observations: list[ForkObservation],
        services_by_namespace: dict[str, list[Manifest]],
    ) -> Previews:
        """The preview URLs of the sandbox's endpoints (operator/previews.py); a declared
        endpoint without a port reads its namespace's Services if no fork did."""
        settings = self.settings.previews
        if settings.domain is None:
            return [], None
        for endpoint in spec.endpoints or []:
            if endpoint.port is None and endpoint.namespace not in services_by_namespace:
                services_by_namespace[endpoint.namespace] = await self._baseline_services(
                    endpoint.namespace
                )
        fork_services = [s for o in observations if o.desired for s in o.desired.services]
        services = {
            (namespace, s["metadata"]["name"]): s
            for namespace, listed in services_by_namespace.items()
            for s in listed
        }
        return preview_urls(settings, spec.routing_key, spec.endpoints, fork_services, services)

    async def _refresh(self, name: str, deployments: dict[str, Manifest]) -> SandboxStatus | None:
        """Readiness from fork Deployments' rollouts, for a sandbox whose spec is unchanged."""
        found = await kube.get_or_none(self.client, kube.Sandbox, name)
        if found is None:
            return None
        body = kube.to_dict(found)
        if body["metadata"].get("deletionTimestamp"):
            return None
        previous = _parse_status(body)
        generation = int(body["metadata"].get("generation", 1))
        if previous is None or previous.observed_generation != generation:
            return await self._reconcile(name, full=False, pods=False)
        # A fork's Pods are read only where its status names their trouble, to keep or clear
        # it: trouble that begins arrives as a Pod event of its own (pods_in_trouble).
        troubled = _forks_in_trouble(previous)
        forks = [
            with_rollout(
                fork,
                deployments[deployment],
                await self._pods_while_rolling_out(deployments[deployment])
                if deployment in troubled
                else [],
            )
            if (deployment := fork_deployment_name(fork)) in deployments
            else fork
            for fork in previous.forks
        ]
        status = sandbox_status(
            generation=generation,
            routing_key=body["spec"]["routingKey"],
            forks=forks,
            previous=previous,
            now=datetime.now(UTC),
        )
        await self._write_status(body, previous, status)
        return status

    async def _pods_while_rolling_out(self, deployment: Manifest | None) -> list[Manifest]:
        """A fork Deployment's Pods while it is not rolled out (their container states say
        why: an image that cannot be pulled, a crash); none once it is, at no API cost."""
        if deployment is None or rollout_complete(deployment)[1]:
            return []
        meta = deployment["metadata"]
        labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not labels:
            return []
        return [
            kube.to_dict(pod)
            async for pod in self.client.list(Pod, namespace=meta["namespace"], labels=labels)
        ]

    async def _baseline(self, namespace: str, name: str) -> Manifest:
        deployment = await kube.get_or_none(self.client, Deployment, name, namespace=namespace)
        if deployment is None:
            raise ForkError(
                Reason.BASELINE_NOT_FOUND,
                f"Deployment/{namespace}/{name}: the baseline Deployment does not exist",
            )
        return kube.to_dict(deployment)

    async def _baseline_services(self, namespace: str) -> list[Manifest]:
        services = []
        async for service in self.client.list(Service, namespace=namespace):
            manifest = kube.to_dict(service)
            labels = manifest["metadata"].get("labels") or {}
            if labels.get(LABEL_SANDBOX) is None:  # forks never count as baselines
                services.append(manifest)
        return services

    async def _write_status(
        self, body: dict[str, Any], previous: SandboxStatus | None, status: SandboxStatus
    ) -> None:
        name = body["metadata"]["name"]
        self.metrics.observe_phase(name, status.phase)
        if status == previous:
            return
        if previous is None or (previous.phase, previous.reason) != (status.phase, status.reason):
            warning = status.phase is Phase.FAILED or status.reason in (Reason.BASELINE_NOT_FOUND,)
            if warning:
                self.metrics.errors.labels(reason=status.reason).inc()
            message = status.message or f"sandbox is {status.phase.value}"
            self.post_event(body, "Warning" if warning else "Normal", status.reason, message)
        await self.client.patch(
            kube.Sandbox.Status,
            name,
            {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "metadata": {"name": name},
                "status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
            },
            patch_type=PatchType.APPLY,
            field_manager=naming.FIELD_MANAGER,
            force=True,
        )

    async def _write_invalid(
        self,
        body: dict[str, Any],
        previous: SandboxStatus | None,
        generation: int,
        error: ValidationError,
    ) -> SandboxStatus:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "spec"
        message = f"spec.{where}: {first['msg']}"
        now = datetime.now(UTC)
        current = conditions.mark_false(
            previous.conditions if previous else [],
            ConditionType.READY,
            Reason.INVALID_SPEC,
            message,
            now=now,
            observed_generation=generation,
        )
        status = SandboxStatus(
            phase=Phase.FAILED,
            reason=Reason.INVALID_SPEC,
            message=message,
            observed_generation=generation,
            conditions=current,
        )
        await self._write_status(body, previous, status)
        return status

    # -- deletion ----------------------------------------------------------------------------

    async def withdraw(self, body: dict[str, Any]) -> bool:
        """Mark a deleted sandbox not Ready; True when it already was (routes withdrawn)."""
        previous = _parse_status(body)
        if previous is not None and previous.phase is Phase.TERMINATING:
            return True
        generation = int(body["metadata"].get("generation", 1))
        status = terminating_status(previous, generation, datetime.now(UTC))
        await self._write_status(body, previous, status)
        return False

    async def delete_generated(self, sandbox: str) -> list[str]:
        """Delete everything generated for `sandbox`; returns what still exists."""
        remaining = await self.objects.delete_all(sandbox)
        if not remaining:
            self.metrics.observe_phase(sandbox, None)
            self._locks.pop(sandbox, None)
            self._reconciled.pop(sandbox, None)
            self._backoffs.pop(sandbox, None)
            if (retry := self._retrying.pop(sandbox, None)) is not None:
                retry.cancel()
        return remaining


@dataclass
class _Request:
    """What a sandbox's next turn must do: a reconcile (maybe full), or only a refresh of
    readiness from the given fork Deployments. A reconcile subsumes a refresh."""

    reconcile: bool = False
    full: bool = False
    #: Read the Pods of every fork still rolling out (a Pod in trouble, a resync).
    pods: bool = False
    deployments: dict[str, Manifest] = field(default_factory=dict)

    def merge(self, other: _Request) -> None:
        self.reconcile = self.reconcile or other.reconcile
        self.full = self.full or other.full
        self.pods = self.pods or other.pods
        self.deployments.update(other.deployments)


def _forks_in_trouble(status: SandboxStatus | None) -> set[str]:
    """The fork Deployments whose status names a Pod's trouble (an image pull, a crash)."""
    if status is None:
        return set()
    return {
        name
        for fork in status.forks
        if fork.reason in (Reason.IMAGE_PULL_FAILED, Reason.FORK_CRASHING)
        and (name := fork_deployment_name(fork)) is not None
    }


def _parse_status(body: dict[str, Any]) -> SandboxStatus | None:
    raw = body.get("status")
    if not raw:
        return None
    try:
        return SandboxStatus.model_validate(raw)
    except ValidationError:
        log.warning("sandbox %s: ignoring a status that does not parse", body["metadata"]["name"])
        return None
