"""The portal's addresses that leave the server: in mails, in the API's answers, on the CLI.

Built from `Settings.portal_base_url()` (the configured public URL), never from a request's
`Host` header, which whoever sends the request chooses.
"""

from __future__ import annotations

from sandboxmesh.controlplane.settings import Settings

#: Where the portal is mounted.
PORTAL = "/portal"
#: The portal's page that signs preview tokens (docs/preview-urls.md): under the portal, as
#: its session cookie, its error pages and its return after sign-in are.
PREVIEW_AUTHORIZE = "/preview/authorize"


def invitation(settings: Settings, token: str) -> str:
    return f"{settings.portal_base_url()}{PORTAL}/invitations/{token}"


def verification(settings: Settings, token: str) -> str:
    return f"{settings.portal_base_url()}{PORTAL}/verify/{token}"


def log_in(settings: Settings) -> str:
    return f"{settings.portal_base_url()}{PORTAL}/login"


def preview_issuer(settings: Settings) -> str:
    """The `iss` of preview tokens: the control plane's public address."""
    return settings.portal_base_url()


def preview_authorize(settings: Settings) -> str:
    """The absolute URL gateways send browsers to for a preview token (`?url=...`)."""
    return f"{settings.portal_base_url()}{PORTAL}{PREVIEW_AUTHORIZE}"


def github_webhook(settings: Settings, org: str) -> str:
    """The payload URL of an organisation's GitHub webhook (docs/policy.md)."""
    return f"{settings.portal_base_url()}/api/v1/webhooks/github/{org}"
