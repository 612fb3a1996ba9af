"""Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it.

Only the replica holding the lease runs the handlers. Expiry is judged by local observation
(how long the lease record has not changed, measured on our monotonic clock), never by
comparing clocks across machines. A leader that cannot renew before its deadline reports the
loss, and the runner exits so the replica restarts as a candidate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from lightkube import ApiError, AsyncClient
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

from sandboxmesh.operator.settings import LeaderElectionSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Record:
    holder: str | None
    renew_time: datetime | None
    transitions: int


class LeaderElector:
    def __init__(self, client: AsyncClient, settings: LeaderElectionSettings) -> None:
        self.client = client
        self.settings = settings
        self._observed: _Record | None = None
        self._observed_at = 0.0
        self._last_renewal = 0.0

    @property
    def identity(self) -> str:
        return self.settings.identity

    async def acquire(self) -> None:
        """Return once this replica holds the lease."""
        logged = False
        while not await self._try_acquire_or_renew():
            if not logged:
                holder = self._observed.holder if self._observed else None
                log.info("waiting for the leader lease (held by %s)", holder)
                logged = True
            await asyncio.sleep(self.settings.retry_period_seconds)
        log.info(
            "acquired the leader lease %s/%s as %s",
            self.settings.namespace,
            self.settings.lease_name,
            self.identity,
        )

    async def hold(self) -> None:
        """Renew until renewal fails past the deadline; then return (leadership is lost)."""
        while True:
            await asyncio.sleep(self.settings.retry_period_seconds)
            try:
                renewed = await self._try_acquire_or_renew()
            except (ApiError, OSError) as error:
                log.warning("renewing the leader lease failed: %s", error)
                renewed = False
            if not renewed:
                overdue = time.monotonic() - self._last_renewal
                if overdue > self.settings.renew_deadline_seconds:
                    log.error("lost the leader lease: not renewed for %.1fs", overdue)
                    return

    async def release(self) -> None:
        """Give the lease up on a clean stop, so a successor need not wait for it to expire."""
        try:
            lease = await self.client.get(
                Lease, self.settings.lease_name, namespace=self.settings.namespace
            )
        except ApiError:
            return
        if lease.spec is None or lease.spec.holderIdentity != self.identity:
            return
        lease.spec.holderIdentity = None
        lease.spec.leaseDurationSeconds = 1
        try:
            await self.client.replace(lease)
            log.info("released the leader lease")
        except ApiError as error:
            log.warning("could not release the leader lease: %s", error)

    async def _try_acquire_or_renew(self) -> bool:
        now = datetime.now(UTC)
        name, namespace = self.settings.lease_name, self.settings.namespace
        try:
            lease = await self.client.get(Lease, name, namespace=namespace)
        except ApiError as error:
            if error.status.code != 404:
                raise
            return await self._create(now)
        spec = lease.spec or LeaseSpec()
        record = _Record(spec.holderIdentity, spec.renewTime, spec.leaseTransitions or 0)
        if record != self._observed:
            self._observed, self._observed_at = record, time.monotonic()
        duration = spec.leaseDurationSeconds or self.settings.lease_duration_seconds
        held_by_other = record.holder not in (None, self.identity)
        if held_by_other and time.monotonic() - self._observed_at < duration:
            return False
        transitions = record.transitions + (0 if record.holder == self.identity else 1)
        lease.spec = LeaseSpec(
            holderIdentity=self.identity,
            leaseDurationSeconds=self.settings.lease_duration_seconds,
            acquireTime=spec.acquireTime if record.holder == self.identity else now,
            renewTime=now,
            leaseTransitions=transitions,
        )
        try:
            # replace carries the resourceVersion we read: a concurrent writer makes it 409.
            await self.client.replace(lease)
        except ApiError as error:
            if error.status.code == 409:
                return False
            raise
        self._last_renewal = time.monotonic()
        return True

    async def _create(self, now: datetime) -> bool:
        lease = Lease(
            metadata=ObjectMeta(name=self.settings.lease_name, namespace=self.settings.namespace),
            spec=LeaseSpec(
                holderIdentity=self.identity,
                leaseDurationSeconds=self.settings.lease_duration_seconds,
                acquireTime=now,
                renewTime=now,
                leaseTransitions=0,
            ),
        )
        try:
            await self.client.create(lease)
        except ApiError as error:
            if error.status.code == 409:
                return False
            raise
        self._last_renewal = time.monotonic()
        return True
