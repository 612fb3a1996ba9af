"""Authenticated preview URLs (docs/preview-urls.md): the token a signed-in member gets for a
sandbox's preview, and the public keys the agents hand to their gateways.

`authorize` is the portal's authorize page; `keys_for_agents` is what the agent protocol's
long-poll carries (`previewKeys`, with `features=previewkeys`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sandboxmesh.controlplane import errors, links
from sandboxmesh.controlplane.domain import preview_access
from sandboxmesh.controlplane.repository.records import Principal
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.usecases import authorization, route_groups
from sandboxmesh.spec.preview import PreviewKeys

log = logging.getLogger(__name__)


def _not_found(asked: preview_access.AskedPreview) -> errors.NotFound:
    return errors.NotFound("preview", asked.hostname)


@dataclass(frozen=True)
class _Previewed:
    """What a routing key names: a sandbox, or a route group (whose preview URLs are its
    members' under its key), with the preview URLs reported for it."""

    name: str
    urls: list[str]


def _reported_urls(status: dict[str, Any] | None) -> list[str]:
    """The preview URLs of a stored status, as text (whatever their shape: the origin check
    reads each, and one it cannot read matches nothing)."""
    listed = (status or {}).get("previewUrls") or []
    return [str(u.get("url", "")) for u in listed if isinstance(u, dict)]


async def _previewed(org: OrgScope, key: str) -> _Previewed | None:
    """The organisation's sandbox or live route group with routing key `key`, if the member
    may see it (403 otherwise); None when the organisation has neither."""
    sandbox = await org.sandboxes.find_by_routing_key(key)
    if sandbox is not None:
        authorization.require_sandbox_read(org.principal)
        return _Previewed(sandbox.name, _reported_urls(sandbox.status))
    group = await org.route_groups.find_by_routing_key(key)
    if group is None:
        return None
    authorization.require_sandbox_read(org.principal)
    described = await route_groups.describe(org, group)
    return _Previewed(group.name, [u.url for u in described.preview_urls])


async def authorize(runtime: Runtime, principal: Principal, url: str) -> str:
    """Where to send the member's browser with a token for the preview `url`: the gateway's
    callback at the URL's origin. Refusals, never a redirect: 400 `url` is not a preview
    address (`preview_access.asked_preview`), 404 no sandbox or route group of the member's
    organisation has that routing key (another organisation's is not found either), 403 the
    member may not see the organisation's sandboxes, 404 the sandbox's last reported status
    (for a group: its members') has no preview URL of that origin. A group's token names the
    group in `sbx`."""
    outcomes = runtime.metrics.preview_authorizations
    try:
        asked = preview_access.asked_preview(url)
    except preview_access.RefusedUrl as refused:
        outcomes.labels("bad_url").inc()
        raise errors.BadRequest(f"This is not a preview address: {refused}.") from refused
    keys = await runtime.preview_keys.keys(runtime.unit_of_work, runtime.clock())
    async with runtime.unit_of_work() as tx:
        found = await _previewed(OrgScope(tx, principal), asked.routing_key)
        now = tx.now
    if found is None or not preview_access.matches_preview_urls(asked, found.urls):
        outcomes.labels("not_found").inc()
        raise _not_found(asked)
    claims = preview_access.claims(
        issuer=links.preview_issuer(runtime.settings),
        audience=asked.hostname,
        subject=principal.email,
        sandbox=found.name,
        now=now,
        lifetime=timedelta(seconds=runtime.settings.preview.token_seconds),
    )
    token = preview_access.sign(keys.signing, claims)
    outcomes.labels("signed").inc()
    log.info(
        "preview token signed",
        extra={
            "org": principal.org_name,
            "sandbox": found.name,
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
