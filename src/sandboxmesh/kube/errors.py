"""The failures of calls to the Kubernetes API, in our own types over the client's.

lightkube raises errors of `httpx2` (a fork of httpx with its own exception classes, so
`except httpx.HTTPError` never sees them): its `ApiError`, an `httpx2.HTTPStatusError`, for a
failure Status from the API server, and httpx2's transport errors (connection refused or
reset, a watch stream cut mid-body as `RemoteProtocolError`, timeouts) when no answer came.
This module is the one place that knows that; the rest of the code catches what it names:

    KubeError                   a call to the API server failed; the client's error is __cause__
    ├── KubeApiError            the server answered with a failure status: .code, .reason
    └── KubeConnectionError     no (complete) answer: refused, reset, cut off, timed out

Code that calls lightkube directly catches `CLIENT_ERRORS` (a retry may cure any of them) or
turns them into ours with `translated()`; anything else is a bug and should surface. Whether
one of them is a refusal, and which, is asked of `refusal` (or `is_not_found`), never of the
client's types; a missing object that is an answer rather than a failure is read or deleted
with `kube.get_or_none` and `kube.delete_if_exists` (calls.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from lightkube import ApiError

#: What lightkube raises when a call to the API server fails, refusals and transport errors
#: alike (ApiError is an httpx2.HTTPError; OSError covers failures below httpx2). Note that
#: the builtin TimeoutError, which `asyncio.timeout` raises, is an OSError: keep such a
#: block outside a `try` that catches these.
CLIENT_ERRORS: tuple[type[Exception], ...] = (httpx2.HTTPError, OSError)


class KubeError(Exception):
    """A call to the API server failed; `__cause__` holds the client library's error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KubeApiError(KubeError):
    """The API server answered with a failure status.

    `code` is the HTTP status (404, 409, 410 for an expired resourceVersion, 403, 5xx...);
    `reason` the Status reason when the server sent a Status (e.g. "NotFound"), else "".
    `api_error` is lightkube's ApiError when there was a Status to decode, else None.
    """

    def __init__(self, message: str, code: int, reason: str, api_error: ApiError | None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.api_error = api_error


class KubeConnectionError(KubeError):
    """No complete answer: the connection failed, dropped (a watch cut off) or timed out."""


def wrap(error: Exception) -> KubeError:
    """Our error for one of `CLIENT_ERRORS` (the caller chains it: `raise wrap(e) from e`).

    The message names the client's error type, so one log line says what happened.
    """
    if isinstance(error, ApiError):
        status = error.status
        code, reason = int(status.code or 0), status.reason or ""
        answer = f"{code} {reason}" if reason else str(code)
        return KubeApiError(
            f"API server answered {answer}: {status.message or error}", code, reason, error
        )
    if isinstance(error, httpx2.HTTPStatusError):
        # An answer without a Status body (a proxy, or the API server shutting down).
        code = error.response.status_code
        return KubeApiError(f"API server answered {code}: {error}", code, "", None)
    return KubeConnectionError(f"{type(error).__name__}: {error or 'no detail'}")


def refusal(error: BaseException) -> KubeApiError | None:
    """Our error for `error` when it is the API server's refusal (a failure status), None for
    anything else (a connection failure, or not a client error at all)."""
    if isinstance(error, httpx2.HTTPStatusError):  # lightkube's ApiError is one
        wrapped = wrap(error)
        assert isinstance(wrapped, KubeApiError)
        return wrapped
    return None


def is_not_found(error: BaseException) -> bool:
    """Whether `error` is the API server's 404: the object (or its namespace) does not exist."""
    refused = refusal(error)
    return refused is not None and refused.code == 404


@contextmanager
def translated() -> Iterator[None]:
    """Raise `CLIENT_ERRORS` from the block as our KubeError types, chained to the original."""
    try:
        yield
    except CLIENT_ERRORS as error:
        raise wrap(error) from error
