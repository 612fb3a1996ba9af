"""Something to show once, on the next page: a notice ("Team created"), or a new secret.

Secrets (a cluster's token, an API token, an invitation link) are shown exactly once and
never stored in plain text, yet a form must redirect after its POST (so a reload does not
post it again). The page it redirects to gets them from a short-lived cookie, sealed (Fernet:
encrypted and authenticated) with a key derived from the session token: only the browser that
holds that session can have it opened, and the page clears it as it shows it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass

from cryptography.fernet import Fernet, InvalidToken

#: A sealed value older than this is ignored.
MAX_AGE_SECONDS = 300


@dataclass(frozen=True)
class OneTime:
    notice: str | None = None
    #: What was issued, e.g. {"kind": "cluster", "name": "staging", "token": "smc_..."}.
    secret: dict[str, str] | None = None


def _fernet(session_token: str) -> Fernet:
    key = hashlib.sha256(b"sandboxmesh portal one-time v1:" + session_token.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(session_token: str, once: OneTime) -> str:
    return _fernet(session_token).encrypt(json.dumps(asdict(once)).encode()).decode()


def unseal(session_token: str, sealed: str) -> OneTime | None:
    try:
        raw = _fernet(session_token).decrypt(sealed.encode(), ttl=MAX_AGE_SECONDS)
        data = json.loads(raw)
        return OneTime(notice=data.get("notice"), secret=data.get("secret"))
    except (InvalidToken, ValueError, AttributeError):
        return None
