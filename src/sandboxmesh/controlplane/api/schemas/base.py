"""The error responses every route documents; the bodies themselves are shared with the
client in `sandboxmesh.spec.api`."""

from __future__ import annotations

from typing import Any

from sandboxmesh.spec.api.base import ApiModel, ApiRequest, ErrorBody

__all__ = ["ERROR_RESPONSES", "ApiModel", "ApiRequest", "ErrorBody"]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Malformed request",
        401: "Missing or invalid token",
        403: "Not allowed for this role",
        404: "Not found in your organization",
        408: "Body not received in time",
        409: "Conflict (exists, in use, quota exceeded)",
        413: "Body too large",
        422: "Invalid fields",
    }.items()
}
