"""The pull-request webhook: GitHub's deliveries, and the organisation's secret (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from sandboxmesh.controlplane import links
from sandboxmesh.controlplane.api.deps import OrgScope
from sandboxmesh.controlplane.api.schemas.base import ERROR_RESPONSES
from sandboxmesh.controlplane.domain import webhooks as rules
from sandboxmesh.controlplane.repository.webhooks import WebhookSecret
from sandboxmesh.controlplane.usecases import webhooks
from sandboxmesh.controlplane.web.dependencies import RuntimeDep
from sandboxmesh.controlplane.web.paths import OrgName
from sandboxmesh.spec.api.webhooks import (
    WebhookDelivery,
    WebhookSecretCreated,
    WebhookSecretPublic,
)

router = APIRouter(prefix="/api/v1", tags=["webhooks"], responses=ERROR_RESPONSES)


def _public(found: WebhookSecret) -> WebhookSecretPublic:
    return WebhookSecretPublic(
        prefix=found.prefix, created_by=found.created_by, created_at=found.created_at
    )


@router.post(
    "/webhooks/github/{org}",
    responses={202: {"model": WebhookDelivery, "description": "Another event: ignored"}},
)
async def github_delivery(
    org: OrgName, request: Request, runtime: RuntimeDep, response: Response
) -> WebhookDelivery:
    """A GitHub delivery, signed with the organisation's secret (`X-Hub-Signature-256`).

    A closed pull request (`pull_request`, `action: closed`) deletes the organisation's
    sandboxes labelled `pr: "<number>"` (and, when they have one, `repo: "<name>"`): 200.
    Any other event: 202, nothing done. 401 for an unsigned or badly signed delivery and for
    an unknown organisation alike; 409 `replayed_delivery`; 413 beyond the body limit.
    """
    handled = await webhooks.handle_github_delivery(
        runtime,
        webhooks.Delivery(
            org=org,
            body=await request.body(),
            signature=request.headers.get(rules.SIGNATURE_HEADER),
            delivery_id=request.headers.get(rules.DELIVERY_HEADER),
            event=request.headers.get(rules.EVENT_HEADER),
        ),
    )
    if handled.outcome is webhooks.Outcome.IGNORED:
        response.status_code = status.HTTP_202_ACCEPTED
        return WebhookDelivery(outcome="ignored", sandboxes=[])
    return WebhookDelivery(outcome="deleted", sandboxes=handled.deleted)


@router.get("/organization/webhook-secret")
async def get_webhook_secret(org: OrgScope) -> WebhookSecretPublic:
    return _public(await webhooks.secret(org))


@router.post("/organization/webhook-secret", status_code=status.HTTP_201_CREATED)
async def rotate_webhook_secret(org: OrgScope, runtime: RuntimeDep) -> WebhookSecretCreated:
    """A new secret (admins and owners), replacing the old one at once: shown this once."""
    value, made = await webhooks.rotate_secret(org)
    return WebhookSecretCreated(
        secret=_public(made),
        value=value,
        url=links.github_webhook(runtime.settings, org.principal.org_name),
    )


@router.delete("/organization/webhook-secret", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook_secret(org: OrgScope) -> None:
    await webhooks.delete_secret(org)
