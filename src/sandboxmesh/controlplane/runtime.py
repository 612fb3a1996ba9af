"""What a running app holds: settings, store, revision hub, create queue, metrics (and who may
read them), clock, the limits on anonymous work, the mail sender and the preview keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.mail import Mail, MailNotSent, SmtpMailer
from sandboxmesh.controlplane.metrics import Metrics
from sandboxmesh.controlplane.metrics_access import MetricsAccess, MetricsGate
from sandboxmesh.controlplane.preview_keyring import PreviewKeyring
from sandboxmesh.controlplane.repository.create_queue import CreateQueue
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.revisions import PostgresListener, RevisionHub
from sandboxmesh.controlplane.settings import Settings
from sandboxmesh.controlplane.store.engine import Store
from sandboxmesh.controlplane.throttle import Throttle


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    metrics: Metrics
    throttle: Throttle
    #: None: no SMTP server is configured, and no mail is sent.
    mailer: SmtpMailer | None = None
    clock: Callable[[], datetime] = utc_now
    #: Who may read /metrics (`create_app` builds it from the settings).
    metrics_gate: MetricsGate = field(default_factory=lambda: MetricsGate(MetricsAccess.CLOSED))
    hub: RevisionHub = field(default_factory=RevisionHub)
    store: Store | None = None
    listener: PostgresListener | None = None
    creates: CreateQueue | None = None
    #: The keys that sign preview tokens, read or created on first use.
    preview_keys: PreviewKeyring = field(default_factory=PreviewKeyring)

    def require_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("the app has not started (its lifespan did not run)")
        return self.store

    def require_mail(self) -> SmtpMailer:
        """The mail sender, or 503 when none is configured (a step needs to mail a link)."""
        if self.mailer is None:
            raise errors.Unavailable(
                "this control plane sends no mail, so it cannot confirm email addresses: its "
                "operator sets SANDBOXMESH_MAIL__SMTP_HOST (docs/controlplane.md)"
            )
        return self.mailer

    async def send_mail(self, mail: Mail) -> None:
        """Send `mail` (after the transaction that made its link committed); 503 when it
        cannot be sent."""
        try:
            await self.require_mail().send(mail)
        except MailNotSent as error:
            self.metrics.mails.labels("failed").inc()
            raise errors.Unavailable(
                "the mail could not be sent right now: try again in a minute"
            ) from error
        self.metrics.mails.labels("sent").inc()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[Tx]:
        """A transaction: what the block wrote is committed together once it ended normally,
        nothing of it if it raised (repository/transaction.py). The writes held for the
        commit, if any, are sent last; after the commit, the revisions produced are published
        and the `after_commit` callbacks run."""
        async with self.require_store().transaction() as connection:
            tx = Tx(conn=connection, now=self.clock())
            yield tx
            await tx.finish()
        for cluster_id, revision in tx.changed_clusters.items():
            self.hub.publish(cluster_id, revision)
        tx.committed()
