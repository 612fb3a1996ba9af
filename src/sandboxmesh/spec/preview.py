"""Preview URLs (docs/preview-urls.md): the contract between the operator, the route server's
preview gateway, the agent and the control plane.

A preview URL names a sandbox (by its routing key, which is unguessable) and one of its
endpoints (an entry Service): ``<scheme>://<endpoint>-<key>.<domain>[:<port>]/``. The key is
the last dash-separated part of the host's first label: endpoint names may hold dashes, keys
never do.

Authenticated previews carry a token the control plane signs (ES256) for a signed-in member of
the sandbox's organisation, verified offline by the gateway against the public keys the agent
writes into the ConfigMap `PREVIEW_KEYS_CONFIGMAP`:

- the browser, without a valid cookie, is sent to `<authorizeUrl>?url=<the URL it asked for>`;
- the control plane checks the portal session and sends it back to
  `<origin>CALLBACK_PATH?sandboxmesh_token=<jwt>&next=<path and query>`;
- the gateway checks the token, keeps it in the cookie `COOKIE_NAME` for that host only, and
  redirects to `next`.

Token claims: `iss` (the control plane's issuer), `aud` (the preview host, lowercase, no port),
`sub` (the member), `exp` (at most `MAX_TOKEN_SECONDS` after `iat`), `sbx` (the sandbox).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, StrictInt

from sandboxmesh.spec import names
from sandboxmesh.spec.model import SpecModel

#: The ConfigMap (in the agent's namespace) holding the preview-signing public keys.
PREVIEW_KEYS_CONFIGMAP = "sandboxmesh-preview-keys"
#: Its data keys.
KEYS_ISSUER = "issuer"
KEYS_AUTHORIZE_URL = "authorizeUrl"
KEYS_JWKS = "jwks.json"

#: The gateway's path that takes a token from the control plane and sets the cookie.
CALLBACK_PATH = "/.sandboxmesh/callback"
CALLBACK_TOKEN_PARAM = "sandboxmesh_token"  # noqa: S105 (a parameter name, not a secret)
CALLBACK_NEXT_PARAM = "next"
#: The query parameter of the control plane's authorize URL naming the URL asked for.
AUTHORIZE_URL_PARAM = "url"
#: The cookie the gateway keeps the token in (host-only, HttpOnly, SameSite=Lax).
COOKIE_NAME = "sandboxmesh-preview"
#: The header a program (not a browser) sends the token in. Not `Authorization`: the
#: application behind the preview may use that for its own tokens.
TOKEN_HEADER = "x-sandboxmesh-preview-token"  # noqa: S105 (a header name, not a secret)
#: Claim naming the sandbox the token was signed for.
SANDBOX_CLAIM = "sbx"
#: The longest a preview token lives.
MAX_TOKEN_SECONDS = 3600
SIGNING_ALGORITHM = "ES256"

#: Endpoint names: DNS labels short enough that `<name>-<key>` (key at most 16) is a label.
ENDPOINT_NAME_MAX = 46
EndpointName = Field(min_length=1, max_length=ENDPOINT_NAME_MAX, pattern=names.DNS_LABEL_PATTERN)


#: A preview URL as the operator writes it: `<scheme>://<host>[:<port>]/`.
PREVIEW_URL_PATTERN = (
    r"^https?://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?/$"
)


class Access(StrEnum):
    #: The unguessable host is the capability.
    PUBLIC = "public"
    #: A signed-in member of the sandbox's organisation (the default).
    AUTHENTICATED = "authenticated"


class Endpoint(SpecModel):
    """An entry Service of a sandbox that gets a preview URL (spec `endpoints`)."""

    name: str = EndpointName
    namespace: names.DnsLabel
    service: names.DnsLabel
    #: The Service's port; its first port when left out.
    port: StrictInt | None = Field(default=None, ge=1, le=65535)
    access: Access = Access.AUTHENTICATED


class PreviewUrl(SpecModel):
    """One preview URL of a sandbox, as its status carries it (DESIGN.md §8: name, url), with
    what the gateway routes it to."""

    name: str = EndpointName
    #: Scheme, host and port only: the portal shows it as a link, so nothing else (no
    #: `javascript:`, no credentials, no path) may pass, whoever reported it.
    url: str = Field(min_length=1, max_length=300, pattern=PREVIEW_URL_PATTERN)
    namespace: names.DnsLabel
    service: names.DnsLabel
    port: StrictInt = Field(ge=1, le=65535)
    access: Access = Access.AUTHENTICATED


class PreviewKeys(SpecModel):
    """What the control plane sends the agent (and the agent writes into the ConfigMap)."""

    issuer: str = Field(min_length=1, max_length=2048)
    authorize_url: str = Field(min_length=1, max_length=2048)
    #: A JSON Web Key Set of the public signing keys (RFC 7517).
    jwks: dict[str, Any]


_LABEL = re.compile(names.DNS_LABEL_PATTERN)
_KEY = re.compile(names.ROUTING_KEY_PATTERN)


def preview_host(endpoint: str, key: str, domain: str) -> str:
    """The host of endpoint `endpoint` of the sandbox (or route group) with key `key`."""
    return f"{endpoint}-{key}.{domain}"


def parse_preview_host(host: str, domain: str) -> tuple[str, str] | None:
    """(endpoint, key) of a preview host under `domain` (a port is ignored), or None."""
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    hostname = hostname.lower().rstrip(".")
    suffix = "." + domain.lower().rstrip(".")
    if not hostname.endswith(suffix):
        return None
    label = hostname[: -len(suffix)]
    endpoint, dash, key = label.rpartition("-")
    if not dash or not _LABEL.match(endpoint) or not _KEY.match(key):
        return None
    if len(endpoint) > ENDPOINT_NAME_MAX:
        return None
    return endpoint, key


def group_preview_urls(group_key: str, members: Iterable[Sequence[PreviewUrl]]) -> list[PreviewUrl]:
    """A route group's preview URLs: its members' (their preview URLs, in member order), each
    with the group's key in place of the member's. An endpoint name that two members give to
    different Services is the first member's (as the first by name keeps a clashing key)."""
    found: dict[str, PreviewUrl] = {}
    for urls in members:
        for url in urls:
            if url.name in found:
                continue
            parts = urlsplit(url.url)
            label, dot, rest = parts.netloc.partition(".")
            endpoint, dash, _key = label.rpartition("-")
            if not dash or not dot:
                continue
            netloc = f"{endpoint}-{group_key}.{rest}"
            found[url.name] = url.model_copy(
                update={"url": urlunsplit((parts.scheme, netloc, parts.path, "", ""))}
            )
    return list(found.values())
