"""The pull-request webhook: an organisation's secret, and what a delivery did (docs/policy.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sandboxmesh.spec.api.base import ApiModel


class WebhookSecretPublic(ApiModel):
    #: The visible start of the secret, to tell secrets apart; the rest is never stored.
    prefix: str
    created_by: str
    created_at: datetime


class WebhookSecretCreated(ApiModel):
    secret: WebhookSecretPublic
    #: The whole secret, for GitHub's webhook settings: shown this once, never again.
    value: str
    #: The payload URL to give GitHub (content type application/json).
    url: str


class WebhookDelivery(ApiModel):
    outcome: Literal["deleted", "ignored"]
    #: The sandboxes whose deletion a closed pull request asked for.
    sandboxes: list[str]
