"""GitHub webhook deliveries, pure: the secret, the signature, and what a delivery asks.

The secret is a token (`smw_<prefix>_<secret>`, domain/secrets.py) of more than 64 bytes, and
the store keeps its SHA-256 digest, as it keeps every token's. HMAC-SHA256 first replaces a key
longer than its 64-byte block by the key's SHA-256 digest (RFC 2104, section 2), so the digest
verifies GitHub's `X-Hub-Signature-256` exactly as the secret would: the secret's text is never
stored. The digest is still as good as the secret for signing deliveries to this endpoint (it
opens nothing else: presented as a token, it would be digested again), so a copy of the store
lets its holder close pull requests' sandboxes until the secret is rotated (docs/policy.md).

A pull request's sandboxes are those labelled `pr: "<number>"` and, when they carry a `repo`
label too, `repo: "<repository name>"` (the name without its owner: a label value has no `/`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets as random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sandboxmesh.controlplane.domain import secrets

#: Random bytes in a webhook secret: its text (about 100 characters) is longer than HMAC-SHA256's
#: 64-byte block, which is what lets the stored digest stand in for it.
SECRET_BYTES = 64
#: How long a delivery's id is remembered: the same id again within it is a replay.
REPLAY_WINDOW = timedelta(days=7)
#: The labels that tie a sandbox to a pull request.
PR_LABEL = "pr"
REPO_LABEL = "repo"

SIGNATURE_HEADER = "x-hub-signature-256"
DELIVERY_HEADER = "x-github-delivery"
EVENT_HEADER = "x-github-event"
# GitHub's delivery ids are GUIDs; anything of this shape is remembered as given.
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def issue_secret() -> secrets.IssuedToken:
    """A new webhook secret: shown once; its digest is the stored verification key."""
    issued = secrets.issue_token(secrets.TokenKind.WEBHOOK, secret_bytes=SECRET_BYTES)
    assert len(issued.plaintext.encode()) > hashlib.sha256().block_size
    return issued


def signature_matches(key_digest: str | None, body: bytes, header: str | None) -> bool:
    """Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under the secret whose
    digest is `key_digest`, compared in constant time. None (no such organisation, or no
    secret) is checked against a random key, so it takes as long and never matches."""
    key = bytes.fromhex(key_digest) if key_digest is not None else random.token_bytes(32)
    expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    given = header or ""
    matches = hmac.compare_digest(expected.encode(), given.encode("ascii", "replace"))
    return matches and key_digest is not None


def delivery_id(header: str | None) -> str | None:
    """The delivery's id when it is shaped like one, else None."""
    return header if header is not None and _DELIVERY_ID.fullmatch(header) else None


@dataclass(frozen=True)
class ClosedPullRequest:
    number: int
    #: The repository's name without its owner, when the payload names one that a label
    #: value can hold; None otherwise.
    repository: str | None


class Malformed(ValueError):
    """The body is not the JSON object GitHub sends."""


def closed_pull_request(event: str | None, body: bytes) -> ClosedPullRequest | None:
    """The pull request a `pull_request` delivery with `action: closed` closes (merged or
    not); None for any other event or action. Raises Malformed for a body that is not a
    JSON object, or a closed pull request without a number."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise Malformed(
            "the body is not JSON (set the webhook's content type to application/json)"
        ) from error
    if not isinstance(payload, dict):
        raise Malformed("the body is not a JSON object")
    if event != "pull_request" or payload.get("action") != "closed":
        return None
    number = _pull_request_number(payload)
    repository = payload.get("repository")
    name = repository.get("name") if isinstance(repository, dict) else None
    usable = isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9][-A-Za-z0-9_.]{0,62}", name)
    return ClosedPullRequest(number, name if usable and isinstance(name, str) else None)


def _pull_request_number(payload: Mapping[str, Any]) -> int:
    number = payload.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        pull_request = payload.get("pull_request")
        number = pull_request.get("number") if isinstance(pull_request, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        raise Malformed("a closed pull_request delivery without a pull request number")
    return number


def belongs(labels: Mapping[str, str], closed: ClosedPullRequest) -> bool:
    """Whether a sandbox with `labels` is one of the pull request's: its `pr` label is the
    number, and its `repo` label, if it has one, is the repository's name."""
    if labels.get(PR_LABEL) != str(closed.number):
        return False
    repo = labels.get(REPO_LABEL)
    return repo is None or repo == closed.repository
