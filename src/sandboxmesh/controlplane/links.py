"""The portal's addresses that leave the server: in mails, in the API's answers, on the CLI.

Built from `Settings.portal_base_url()` (the configured public URL), never from a request's
`Host` header, which whoever sends the request chooses.
"""

from __future__ import annotations

from sandboxmesh.controlplane.settings import Settings

#: Where the portal is mounted.
PORTAL = "/portal"


def invitation(settings: Settings, token: str) -> str:
    return f"{settings.portal_base_url()}{PORTAL}/invitations/{token}"


def verification(settings: Settings, token: str) -> str:
    return f"{settings.portal_base_url()}{PORTAL}/verify/{token}"


def log_in(settings: Settings) -> str:
    return f"{settings.portal_base_url()}{PORTAL}/login"
