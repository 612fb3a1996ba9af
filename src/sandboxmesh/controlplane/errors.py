"""Errors the API answers with: each knows its HTTP status and machine-readable `code`.

    ApiError
     ├── BadRequest            400 bad_request / malformed_json
     ├── Unauthorized          401 unauthorized
     ├── Forbidden             403 forbidden
     ├── NotFound              404 not_found
     ├── RequestTimeout        408 request_timeout
     ├── Conflict              409 conflict
     │    ├── QuotaExceeded    409 quota_exceeded
     │    ├── MemberSandboxLimit  409 member_sandbox_limit (a lifetime policy's per-member limit)
     │    └── ReplayedDelivery    409 replayed_delivery (a webhook delivery seen already)
     ├── PayloadTooLarge       413 payload_too_large
     ├── Invalid               422 invalid (details.errors: field-level errors)
     │    ├── TtlAboveMaximum       422 ttl_above_maximum (a lifetime policy's maximum TTL)
     │    └── PolicyAboveOrganization  422 policy_above_organization (a team's policy)
     ├── TooManyRequests       429 too_many_requests (Retry-After: seconds)
     └── Unavailable           503 unavailable (a dependency such as mail is down)

Every error reaches the client as JSON `{code, message, details}` (see `api.errors`).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class MalformedJson(BadRequest):
    code = "malformed_json"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name!r} not found", details={"kind": kind, "name": name})


class RequestTimeout(ApiError):
    status = 408
    code = "request_timeout"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class QuotaExceeded(Conflict):
    code = "quota_exceeded"


class MemberSandboxLimit(Conflict):
    code = "member_sandbox_limit"


class ReplayedDelivery(Conflict):
    code = "replayed_delivery"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class Invalid(ApiError):
    status = 422
    code = "invalid"

    @classmethod
    def field(cls, location: list[str | int], message: str) -> Invalid:
        return cls(
            f"{'.'.join(str(p) for p in location)}: {message}",
            details={"errors": [{"loc": location, "msg": message, "type": "value_error"}]},
        )


class TtlAboveMaximum(Invalid):
    code = "ttl_above_maximum"


class PolicyAboveOrganization(Invalid):
    code = "policy_above_organization"


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: float) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(message, details={"retryAfterSeconds": seconds})
        self.retry_after = seconds


class Unavailable(ApiError):
    status = 503
    code = "unavailable"
