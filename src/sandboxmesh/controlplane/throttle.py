"""What a server process allows of the costly anonymous work: password tries, hashes, mails.

- A password try (log-in) or a request to mail a link (sign-up, joining by mail) is refused
  with 429 and `Retry-After` when its client address has tried too often, or its account has
  been tried too often since its last right password, before any hash is computed or mail
  sent: an attacked
  account costs the server a dictionary lookup per try, and the attacker's address is slowed
  for every account.
- At most `hash_concurrency` password hashes run at once (each takes 64 MiB and tens of ms of
  a core); up to `hash_queue` more wait their turn, and beyond that a try is refused with 503
  at once. Memory stays bounded, and a log-in of another account waits behind at most a
  short queue.
- Mails to one address (address confirmations, invitations) are limited likewise.

Everything is per process and in memory (settings.ThrottleSettings says so to operators).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain.throttle import Buckets
from sandboxmesh.controlplane.settings import ThrottleSettings


class Throttle:
    def __init__(
        self,
        settings: ThrottleSettings,
        *,
        on_refused: Callable[[str], None] = lambda limit: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        #: Told the limit ("address", "account", "mail", "hashing") of every refusal.
        self.on_refused = on_refused
        self.clock = clock
        self.accounts = Buckets(
            burst=settings.account_burst,
            refill_seconds=settings.account_refill_seconds,
            max_keys=settings.max_tracked,
        )
        self.addresses = Buckets(
            burst=settings.address_burst,
            refill_seconds=settings.address_refill_seconds,
            max_keys=settings.max_tracked,
        )
        self.mailboxes = Buckets(
            burst=settings.mail_burst,
            refill_seconds=settings.mail_refill_seconds,
            max_keys=settings.max_tracked,
        )
        self._hashing = asyncio.Semaphore(settings.hash_concurrency)
        self._waiting = 0

    def attempt(self, *, account: str | None, address: str) -> None:
        """Count a try of costly anonymous work (a password to check, a link to mail) from
        client `address` for `account` (None: no account's password is tried); 429 when it
        must wait.

        The try is counted before its outcome is known, so concurrent tries cannot all pass
        the check before the first of them is counted; a right password (`right_password`)
        gives the account its tries back."""
        now = self.clock()
        for limit, buckets, key in (
            ("address", self.addresses, address),
            ("account", self.accounts, account),
        ):
            if key is None:
                continue
            wait = buckets.wait(key, now)
            if wait > 0:
                self.on_refused(limit)
                raise errors.TooManyRequests(
                    "too many sign-in attempts: wait a moment and try again", retry_after=wait
                )
        self.addresses.take(address, now)
        if account is not None:
            self.accounts.take(account, now)

    def right_password(self, account: str) -> None:
        self.accounts.forget(account)

    def mail_to(self, mailbox: str) -> None:
        """Count a mail to `mailbox`; 429 when it has had its share."""
        now = self.clock()
        wait = self.mailboxes.wait(mailbox, now)
        if wait > 0:
            self.on_refused("mail")
            raise errors.TooManyRequests(
                "a mail went to this address a moment ago: check its inbox, or try again later",
                retry_after=wait,
            )
        self.mailboxes.take(mailbox, now)

    @contextlib.asynccontextmanager
    async def hashing(self) -> AsyncIterator[None]:
        """A turn to compute a password hash; 503 when too many already wait."""
        if self._hashing.locked() and self._waiting >= self.settings.hash_queue:
            self.on_refused("hashing")
            raise errors.Unavailable("the server is busy signing people in: try again shortly")
        self._waiting += 1
        try:
            await self._hashing.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._hashing.release()
