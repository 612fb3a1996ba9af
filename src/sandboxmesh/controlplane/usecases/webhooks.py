"""The pull-request webhook: its secret (admins), and a GitHub delivery's handling.

A delivery (`POST /api/v1/webhooks/github/{org}`) has no caller: it is trusted only once its
`X-Hub-Signature-256` verifies under the organisation's secret (domain/webhooks.py). Unsigned,
badly signed and unknown-organisation deliveries get one and the same 401; a delivery id seen
within the replay window gets 409. A closed pull request deletes the organisation's sandboxes
labelled with it, through the repository's delete (audit log, metering) as the API's delete
does, in the same unit of work that remembers the delivery: both or neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import webhooks
from sandboxmesh.controlplane.repository import webhooks as store
from sandboxmesh.controlplane.repository.sandboxes import Sandboxes
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.repository.webhooks import WebhookSecret
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.usecases import authorization

#: Who the audit log names for what a delivery does.
ACTOR = "webhook:github"
_PAGE = 500


class Outcome(StrEnum):
    """What became of a delivery (the metric's label)."""

    DELETED = "deleted"  # a closed pull request (none of its sandboxes left, perhaps)
    IGNORED = "ignored"  # another event or action
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_ORGANIZATION = "unknown_organization"  # answered as a bad signature
    REPLAYED = "replayed"
    MALFORMED = "malformed"


@dataclass(frozen=True)
class Delivery:
    org: str
    body: bytes
    signature: str | None
    delivery_id: str | None
    event: str | None


@dataclass(frozen=True)
class Handled:
    outcome: Outcome
    deleted: list[str] = field(default_factory=list)


async def rotate_secret(org: OrgScope) -> tuple[str, WebhookSecret]:
    """A new secret (admins), replacing the old one at once; its text is shown this once."""
    authorization.require_manage(org.principal)
    return await org.webhook_secret.rotate()


async def secret(org: OrgScope) -> WebhookSecret:
    """The secret's prefix and age (admins); 404 when there is none."""
    authorization.require_manage(org.principal)
    return await org.webhook_secret.get()


async def delete_secret(org: OrgScope) -> None:
    authorization.require_manage(org.principal)
    await org.webhook_secret.delete()


def _refused() -> errors.Unauthorized:
    # One answer for unsigned, badly signed and unknown organisations: it tells nothing of
    # which organisations exist or have a secret.
    return errors.Unauthorized("the delivery's X-Hub-Signature-256 does not verify")


async def handle_github_delivery(runtime: Runtime, delivery: Delivery) -> Handled:
    """Verify `delivery`, then act on it; counts its outcome. Raises 401 (unsigned, bad
    signature, unknown organisation), 400 (no delivery id, a body that is not GitHub's
    JSON), 409 `replayed_delivery`."""
    try:
        handled = await _handle(runtime, delivery)
    except _Refusal as refusal:
        runtime.metrics.webhook_deliveries.labels(refusal.outcome.value).inc()
        raise refusal.error from None
    runtime.metrics.webhook_deliveries.labels(handled.outcome.value).inc()
    return handled


class _Refusal(Exception):
    def __init__(self, outcome: Outcome, error: errors.ApiError) -> None:
        super().__init__(error.message)
        self.outcome = outcome
        self.error = error


async def _handle(runtime: Runtime, delivery: Delivery) -> Handled:
    if not delivery.signature:
        raise _Refusal(Outcome.UNSIGNED, _refused())
    async with runtime.unit_of_work() as tx:
        key = await store.delivery_key(tx, delivery.org)
        digest = None if key is None else key.key_digest
        if not webhooks.signature_matches(digest, delivery.body, delivery.signature):
            outcome = Outcome.UNKNOWN_ORGANIZATION if key is None else Outcome.BAD_SIGNATURE
            raise _Refusal(outcome, _refused())
        assert key is not None  # a signature matches only a stored key
        delivery_id = webhooks.delivery_id(delivery.delivery_id)
        if delivery_id is None:
            raise _Refusal(
                Outcome.MALFORMED, errors.BadRequest("missing or malformed X-GitHub-Delivery")
            )
        try:
            closed = webhooks.closed_pull_request(delivery.event, delivery.body)
        except webhooks.Malformed as malformed:
            raise _Refusal(Outcome.MALFORMED, errors.BadRequest(str(malformed))) from None
        if not await store.remember_delivery(tx, key.org_id, delivery_id):
            raise _Refusal(
                Outcome.REPLAYED,
                errors.ReplayedDelivery(
                    f"delivery {delivery_id} was received already (a replay)",
                    details={"delivery": delivery_id},
                ),
            )
        if closed is None:
            return Handled(Outcome.IGNORED)
        deleted = await _delete_sandboxes_of(Sandboxes(tx, key.org_id, ACTOR), closed)
    return Handled(Outcome.DELETED, deleted)


async def _delete_sandboxes_of(
    sandboxes: Sandboxes, closed: webhooks.ClosedPullRequest
) -> list[str]:
    """Ask for the deletion of the pull request's live sandboxes; returns their names."""
    deleted: list[str] = []
    after: str | None = None
    while True:
        page = await sandboxes.search(
            labels={webhooks.PR_LABEL: str(closed.number)}, after=after, limit=_PAGE
        )
        for sandbox in page:
            labels = sandbox.spec.get("labels") or {}
            if sandbox.deleting or not webhooks.belongs(labels, closed):
                continue
            why = f"pull request #{closed.number} closed"
            await sandboxes.delete(sandbox.name, why=why)
            deleted.append(sandbox.name)
        if len(page) < _PAGE:
            return deleted
        after = page[-1].name
