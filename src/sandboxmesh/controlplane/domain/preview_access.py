"""The rules of the authorize step of authenticated previews, as pure functions.

`asked_preview(url)` reads the URL a browser was sent from (`<authorizeUrl>?url=...`): which
origin, host and routing key it names, and where the gateway should send the browser back
(`next`). `claims` and `sign` make the token; `callback_url` is where the browser goes with it.
Whatever does not parse raises `RefusedUrl`: the caller answers it with a page, never with a
redirect.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, quote, urlencode, urlsplit

import jwt

from sandboxmesh.controlplane.domain.preview_keys import SigningKey
from sandboxmesh.spec import preview

#: The longest URL the authorize step reads (a preview URL's own limit, spec.preview).
MAX_URL_LENGTH = 2048
_SCHEMES = {"http": 80, "https": 443}
_HOST_CHARACTERS = frozenset(string.ascii_lowercase + string.digits + "-.")
# What stays as it is in the `next` path and query: RFC 3986's unreserved and sub-delims,
# ':' and '@', and '%' (escapes already there). Everything else is percent-encoded, so a
# backslash, a blank or a control character cannot turn `next` into another site's address.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


class RefusedUrl(ValueError):
    """The URL to authorize is not one of a preview: the message says why, for people."""


@dataclass(frozen=True)
class AskedPreview:
    """A preview URL to authorize, as far as its text tells."""

    #: `scheme://host[:port]`, lowercase, without the scheme's default port.
    origin: str
    #: The host, lowercase, without port: the token's audience.
    hostname: str
    endpoint: str
    routing_key: str
    #: The path and query to return to at the preview host (always one leading "/").
    next_path: str


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL, normalised (lowercase, no default
    port), or None when it is not one."""
    try:
        parts = urlsplit(url)
        return _origin(parts)
    except (RefusedUrl, ValueError):
        return None


def _origin(parts: SplitResult) -> str:
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise RefusedUrl("only http and https addresses can be previews")
    if parts.username is not None or parts.password is not None:
        raise RefusedUrl("a preview address carries no user name or password")
    hostname = (parts.hostname or "").rstrip(".")
    if not hostname or not set(hostname) <= _HOST_CHARACTERS:
        raise RefusedUrl("the address has no host name a preview could have")
    port = parts.port  # ValueError when it is not a port
    if port is None or port == _SCHEMES[scheme]:
        return f"{scheme}://{hostname}"
    return f"{scheme}://{hostname}:{port}"


def next_path(path: str, query: str) -> str:
    """The path and query to return to, as a path that a browser cannot read as another
    host's: one leading "/", nothing but safe characters (the others percent-encoded)."""
    safe = "/" + quote(path, safe=_PATH_SAFE).lstrip("/")
    if query:
        safe += "?" + quote(query, safe=_QUERY_SAFE)
    return safe


def asked_preview(url: str) -> AskedPreview:
    """The preview `url` names; RefusedUrl when it cannot be one.

    The control plane does not know the clusters' preview domains: the routing key is the
    last dash-separated part of the host's first label (spec.preview.parse_preview_host with
    the rest of the host as the domain). Whether that key's sandbox really has this origin
    among its preview URLs is the caller's check."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedUrl(f"the address is longer than {MAX_URL_LENGTH} characters")
    if not url.isprintable() or not url.isascii():
        raise RefusedUrl("the address holds characters an address cannot hold")
    try:
        parts = urlsplit(url)
        origin = _origin(parts)
    except ValueError as error:
        if isinstance(error, RefusedUrl):
            raise
        raise RefusedUrl("the address does not parse") from error
    hostname = origin.split("://", 1)[1].rsplit(":", 1)[0]
    _, dot, domain = hostname.partition(".")
    named = preview.parse_preview_host(hostname, domain) if dot and domain else None
    if named is None:
        raise RefusedUrl("the address is not a preview address (<endpoint>-<key>.<domain>)")
    endpoint, key = named
    return AskedPreview(
        origin=origin,
        hostname=hostname,
        endpoint=endpoint,
        routing_key=key,
        next_path=next_path(parts.path, parts.query),
    )


def matches_preview_urls(asked: AskedPreview, preview_urls: list[str]) -> bool:
    """Whether the origin asked for is that of one of the sandbox's reported preview URLs."""
    return any(origin_of(url) == asked.origin for url in preview_urls)


def claims(
    *,
    issuer: str,
    audience: str,
    subject: str,
    sandbox: str,
    now: datetime,
    lifetime: timedelta,
) -> dict[str, Any]:
    """The token's claims (spec.preview): `exp` at most MAX_TOKEN_SECONDS after `iat`."""
    seconds = min(int(lifetime.total_seconds()), preview.MAX_TOKEN_SECONDS)
    if seconds <= 0:
        raise ValueError("a preview token must live a positive number of seconds")
    issued = int(now.timestamp())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        preview.SANDBOX_CLAIM: sandbox,
        "iat": issued,
        "exp": issued + seconds,
    }


def sign(key: SigningKey, token_claims: dict[str, Any]) -> str:
    """The compact JWS of `token_claims`, ES256, with the key's `kid` in its header."""
    return jwt.encode(
        token_claims,
        key.private_key(),
        algorithm=preview.SIGNING_ALGORITHM,
        headers={"kid": key.kid},
    )


def callback_url(asked: AskedPreview, token: str) -> str:
    """Where the browser takes the token: the gateway's callback at the asked origin."""
    query = urlencode(
        {preview.CALLBACK_TOKEN_PARAM: token, preview.CALLBACK_NEXT_PARAM: asked.next_path}
    )
    return f"{asked.origin}{preview.CALLBACK_PATH}?{query}"
