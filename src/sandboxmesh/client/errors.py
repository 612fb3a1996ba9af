"""Errors of the control plane client. They wrap and chain httpx's.

ClientError
 ├── ConnectionFailed      the server could not be reached or did not answer in time
 ├── UnexpectedResponse    the server answered 2xx with a body that is not the call's model
 └── ApiError              the server answered 4xx/5xx; `.status`, `.code`, `.details`
      ├── Unauthorized     401
      ├── Forbidden        403
      ├── NotFound         404
      ├── Conflict         409
      │    └── QuotaExceeded   409 quota_exceeded
      └── Invalid          400, 413, 422
"""

from __future__ import annotations

from typing import Any

import pydantic


class ClientError(Exception):
    """Anything the client could not do."""


class ConnectionFailed(ClientError):
    pass


class UnexpectedResponse(ClientError):
    """A successful answer this client cannot read: another server than the control plane
    answered, or one whose API this client does not share. Chains pydantic's error."""

    @classmethod
    def of(cls, model: str, status: int, error: pydantic.ValidationError) -> UnexpectedResponse:
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the body"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        return cls(
            f"the control plane's answer (HTTP {status}) is not a {model}: "
            f"{where}: {first['msg']}{more}"
        )


class ApiError(ClientError):
    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class QuotaExceeded(Conflict):
    pass


class Invalid(ApiError):
    pass


def error_for(status: int, body: Any) -> ApiError:
    """The error a response of `status` with JSON `body` stands for."""
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        code, message = body["code"], str(body.get("message", ""))
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
    else:
        code, message, details = "http_error", f"HTTP {status}", {}
    kind: type[ApiError]
    if code == "quota_exceeded":
        kind = QuotaExceeded
    else:
        kind = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict}.get(
            status, Invalid if status in (400, 413, 422) else ApiError
        )
    return kind(status, code, message, details)
