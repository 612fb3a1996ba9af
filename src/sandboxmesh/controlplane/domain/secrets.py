"""Bearer tokens and routing keys: generated from `secrets`, stored only as SHA-256 digests.

A token reads `<kind>_<id>_<secret>`: `kind` says what it opens (`smu` a user's API token,
`smc` a cluster's agent token, `smi` an invitation, `smv` an address confirmation, `smw` an
organisation's webhook secret), `id` is
the visible prefix shown in listings, `secret` the
high-entropy rest. Tokens carry 160+ random bits, so a fast digest is enough at rest (a slow
password hash buys nothing against brute force here and would cost every request).
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from enum import StrEnum

ROUTING_KEY_LENGTH = 16
_ROUTING_ALPHABET = string.ascii_lowercase + string.digits
_PREFIX_CHARS = 8


class TokenKind(StrEnum):
    USER = "smu"
    CLUSTER = "smc"
    #: A portal invitation link: opens nothing by itself, it only lets one person join.
    INVITATION = "smi"
    #: A link mailed to an address: whoever opens it proves they read that mailbox.
    VERIFICATION = "smv"
    #: The secret GitHub signs an organisation's webhook deliveries with (domain/webhooks.py).
    WEBHOOK = "smw"


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: `plaintext` is shown once and never stored."""

    plaintext: str
    prefix: str
    digest: str


def issue_token(kind: TokenKind, *, secret_bytes: int = 30) -> IssuedToken:
    """A new token of `kind` whose secret part holds `secret_bytes` random bytes."""
    public = secrets.token_hex(_PREFIX_CHARS // 2)
    plaintext = f"{kind.value}_{public}_{secrets.token_urlsafe(secret_bytes)}"
    return IssuedToken(
        plaintext=plaintext, prefix=f"{kind.value}_{public}", digest=digest(plaintext)
    )


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_kind(token: str) -> TokenKind | None:
    """The kind a presented token claims, or None when it is not shaped like ours."""
    head, _, rest = token.partition("_")
    if not rest or len(token) > 200:
        return None
    try:
        return TokenKind(head)
    except ValueError:
        return None


def routing_key() -> str:
    """16 lowercase letters and digits (82 bits), as DESIGN.md §3 asks.

    One uniform draw among all 36**16 keys, written in base 36: a draw per character read
    the system's random source 16 times (0.1 ms of every create).
    """
    number = secrets.randbelow(len(_ROUTING_ALPHABET) ** ROUTING_KEY_LENGTH)
    characters = []
    for _ in range(ROUTING_KEY_LENGTH):
        number, digit = divmod(number, len(_ROUTING_ALPHABET))
        characters.append(_ROUTING_ALPHABET[digit])
    return "".join(characters)
