"""CSRF tokens for every state-changing request of the portal.

- Signed in: a synchronizer token derived from the session's secret (an HMAC of the session
  token, which only the browser holding the cookie and the server see), sent back in the
  form field `csrf_token` or the `X-CSRF-Token` header (htmx requests).
- Before sign-in (log-in, sign-up, accepting an invitation): a double-submit token, a random
  value in a `__Host-` cookie (outside development) that the form must repeat.

Either way the comparison is constant-time; the session cookie is also SameSite=Lax.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

FIELD = "csrf_token"
HEADER = "x-csrf-token"
_PURPOSE = b"sandboxmesh portal csrf v1"


def for_session(session_token: str) -> str:
    return hmac.new(session_token.encode(), _PURPOSE, hashlib.sha256).hexdigest()


def new_anonymous() -> str:
    return secrets.token_urlsafe(32)


def matches(expected: str | None, presented: str | None) -> bool:
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
