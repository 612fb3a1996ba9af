"""Authenticated preview URLs (docs/preview-urls.md): the token a signed-in member gets for a
sandbox's preview, and the public keys the agents hand to their gateways.

`authorize` is the portal's authorize page; `keys_for_agents` is what the agent protocol's
long-poll carries (`previewKeys`, with `features=previewkeys`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sandboxmesh.controlplane import errors, links
from sandboxmesh.controlplane.domain import preview_access
from sandboxmesh.controlplane.repository.records import Principal
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.usecases import authorization
from sandboxmesh.spec import SandboxStatus
from sandboxmesh.spec.preview import PreviewKeys

log = logging.getLogger(__name__)


def _not_found(asked: preview_access.AskedPreview) -> errors.NotFound:
    return errors.NotFound("preview", asked.hostname)


async def authorize(runtime: Runtime, principal: Principal, url: str) -> str:
    """Where to send the member's browser with a token for the preview `url`: the gateway's
    callback at the URL's origin. Refusals, never a redirect: 400 `url` is not a preview
    address (`preview_access.asked_preview`), 404 no sandbox of the member's organisation
    has that routing key (another organisation's is not found either), 403 the member may
    not see the organisation's sandboxes, 404 the sandbox's last reported status has no
    preview URL of that origin."""
    outcomes = runtime.metrics.preview_authorizations
    try:
        asked = preview_access.asked_preview(url)
    except preview_access.RefusedUrl as refused:
        outcomes.labels("bad_url").inc()
        raise errors.BadRequest(f"This is not a preview address: {refused}.") from refused
    keys = await runtime.preview_keys.keys(runtime.unit_of_work, runtime.clock())
    async with runtime.unit_of_work() as tx:
        org = OrgScope(tx, principal)
        sandbox = await org.sandboxes.find_by_routing_key(asked.routing_key)
        if sandbox is None:
            outcomes.labels("not_found").inc()
            raise _not_found(asked)
        authorization.require_sandbox_read(principal)
        now = tx.now
    status = SandboxStatus.model_validate(sandbox.status or {})
    if not preview_access.matches_preview_urls(asked, [u.url for u in status.preview_urls]):
        outcomes.labels("not_found").inc()
        raise _not_found(asked)
    claims = preview_access.claims(
        issuer=links.preview_issuer(runtime.settings),
        audience=asked.hostname,
        subject=principal.email,
        sandbox=sandbox.name,
        now=now,
        lifetime=timedelta(seconds=runtime.settings.preview.token_seconds),
    )
    token = preview_access.sign(keys.signing, claims)
    outcomes.labels("signed").inc()
    log.info(
        "preview token signed",
        extra={
            "org": principal.org_name,
            "sandbox": sandbox.name,
            "host": asked.hostname,
            "member": principal.email,
            "kid": keys.signing.kid,
            "expires": claims["exp"],
        },
    )
    return preview_access.callback_url(asked, token)


async def keys_for_agents(runtime: Runtime) -> PreviewKeys:
    """The issuer, the authorize page and the public keys, as agents write them for their
    gateways (the same for every cluster)."""
    keys = await runtime.preview_keys.keys(runtime.unit_of_work, runtime.clock())
    settings = runtime.settings
    return PreviewKeys(
        issuer=links.preview_issuer(settings),
        authorize_url=links.preview_authorize(settings),
        jwks=keys.jwks,
    )
