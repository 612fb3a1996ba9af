"""Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it.

Only the replica holding the lease runs the handlers. Expiry is judged by local observation
(how long the lease record has not changed, measured on our monotonic clock), never by
comparing clocks across machines.

- `acquire()` returns only once this replica holds the lease. A failed call (the namespace
  missing, the API refusing the write, the API server unreachable) is retried with backoff,
  and every new reason for waiting is logged once and handed to `on_waiting` (readiness).
- `hold()` renews every retry period. A renewal that fails is retried until the renew
  deadline after the last successful renewal, each attempt bounded by that deadline, so a
  hung request cannot stretch it; past it, or once another holder is seen, leadership is
  lost: `hold()` logs one line with the reason and returns it, and the runner exits.

Safety rests on renew_deadline < lease_duration: a leader gives up before any other replica,
which waits lease_duration from the last change it saw, can take the lease over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lightkube import AsyncClient
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

from sandboxmesh import kube
from sandboxmesh.backoff import Backoff
from sandboxmesh.operator.settings import LeaderElectionSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Record:
    holder: str | None
    renew_time: datetime | None
    transitions: int


def _ignore(reason: str) -> None:
    pass


def _is_conflict(error: BaseException) -> bool:
    """A 409: another writer got there first (a stale resourceVersion, or a create raced)."""
    refused = kube.errors.refusal(error)
    return refused is not None and refused.code == 409


class LeaderElector:
    def __init__(
        self,
        client: AsyncClient,
        settings: LeaderElectionSettings,
        *,
        on_waiting: Callable[[str], None] = _ignore,
    ) -> None:
        self.client = client
        self.settings = settings
        self.on_waiting = on_waiting
        self._observed: _Record | None = None
        self._observed_at = 0.0
        #: When the last successful write of the lease was sent; None until one succeeds.
        self._last_renewal: float | None = None

    @property
    def identity(self) -> str:
        return self.settings.identity

    @property
    def _lease(self) -> str:
        return f"{self.settings.namespace}/{self.settings.lease_name}"

    async def acquire(self) -> None:
        """Return once this replica holds the lease (see the module's doc)."""
        log.info("candidate for the leader lease %s as %s", self._lease, self.identity)
        # Never back off longer than a lease lasts: once the cause is gone, take it promptly.
        backoff = Backoff(self.settings.retry_period_seconds, self.settings.lease_duration_seconds)
        reason = ""
        while True:
            try:
                if await self._try_acquire_or_renew():
                    break
            except kube.CLIENT_ERRORS as error:
                waiting, level = self._cannot_acquire(kube.errors.wrap(error)), logging.WARNING
                delay = backoff.next_delay()
            else:
                holder = self._observed.holder if self._observed else None
                waiting, level = f"waiting for the leader lease (held by {holder})", logging.INFO
                delay = self.settings.retry_period_seconds
                backoff.reset()
            if waiting != reason:
                log.log(level, "%s", waiting)
                self.on_waiting(f"standby: {waiting}")
                reason = waiting
            await asyncio.sleep(delay)
        log.info("acquired the leader lease %s as %s", self._lease, self.identity)

    def _cannot_acquire(self, error: kube.KubeError) -> str:
        if isinstance(error, kube.KubeApiError) and error.code == 404:
            # The Lease itself missing is no error (it is created): its namespace is.
            return (
                f"cannot take the leader lease {self._lease}: namespace "
                f"{self.settings.namespace} does not exist (create it, or pass "
                f"--lease-namespace); retrying"
            )
        return f"cannot take the leader lease {self._lease} ({error}); retrying"

    async def hold(self) -> str:
        """Renew until leadership is lost; then log it in one line and return the reason."""
        if self._last_renewal is None:
            raise RuntimeError("hold() before acquire(): this replica never held the lease")
        last_error = "none"
        while True:
            deadline = self._last_renewal + self.settings.renew_deadline_seconds
            # After a failure the next try waits no longer than the deadline: the loss is
            # declared when it happens, not a retry period later.
            pause = min(self.settings.retry_period_seconds, deadline - time.monotonic())
            await asyncio.sleep(max(0.0, pause))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                overdue = time.monotonic() - self._last_renewal
                return self._lost(f"not renewed for {overdue:.1f}s (last error: {last_error})")
            # As client-go: an attempt may take what is left of the deadline. Cutting it
            # shorter (half of it, tried once) lost a 5 s lease to an API server slow but
            # alive under the test suite's load: every attempt was cut before its answer.
            try:
                async with asyncio.timeout(remaining):
                    renewed = await self._try_acquire_or_renew()
            except TimeoutError:
                last_error = "the renewal did not finish within the renew deadline"
                continue
            except kube.CLIENT_ERRORS as error:
                last_error = str(kube.errors.wrap(error))
                log.warning("renewing the leader lease failed (%s); retrying", last_error)
                continue
            holder = self._observed.holder if self._observed else None
            if not renewed and holder not in (None, self.identity):
                return self._lost(f"the lease is now held by {holder}")
            # Not renewed otherwise: a conflicting write; read it again within the deadline.

    def _lost(self, reason: str) -> str:
        log.error("lost the leader lease %s: %s", self._lease, reason)
        return reason

    async def release(self) -> None:
        """Give the lease up on a clean stop, so a successor need not wait for it to expire."""
        try:
            lease = await self.client.get(
                Lease, self.settings.lease_name, namespace=self.settings.namespace
            )
        except kube.CLIENT_ERRORS:
            return
        if lease.spec is None or lease.spec.holderIdentity != self.identity:
            return
        lease.spec.holderIdentity = None
        lease.spec.leaseDurationSeconds = 1
        try:
            await self.client.replace(lease)
            log.info("released the leader lease")
        except kube.CLIENT_ERRORS as error:
            log.warning("could not release the leader lease: %s", kube.errors.wrap(error))

    async def _try_acquire_or_renew(self) -> bool:
        # Taken before the request: the write lands after it, so a deadline counted from
        # here ends no later than one counted from when the API server stored it.
        sent = time.monotonic()
        now = datetime.now(UTC)
        name, namespace = self.settings.lease_name, self.settings.namespace
        lease = await kube.get_or_none(self.client, Lease, name, namespace=namespace)
        if lease is None:
            return await self._create(now, sent)
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
        except kube.CLIENT_ERRORS as error:
            if _is_conflict(error):
                return False
            raise
        self._last_renewal = sent
        return True

    async def _create(self, now: datetime, sent: float) -> bool:
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
        except kube.CLIENT_ERRORS as error:
            if _is_conflict(error):
                return False
            raise
        self._last_renewal = sent
        return True
