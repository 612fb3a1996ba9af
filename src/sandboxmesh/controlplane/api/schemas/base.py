"""The base of every API body: camelCase on the wire, unknown fields refused; and of every
request body, which refuses NUL characters too (see `sandboxmesh.spec.text`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel

from sandboxmesh.spec import text


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ApiRequest(ApiModel):
    """A body a client sends: checked for NUL, which responses (built from stored rows) skip.

    Its numbers and booleans are declared strict (`StrictInt`, `StrictBool`): `"5"` is not 5
    and `true` is not 1 (a test walks every request body of the OpenAPI document for it).
    """

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return text.refuse_nul(value)


class ErrorBody(ApiModel):
    """Every error: a machine-readable `code`, a `message` for people, and `details`."""

    code: str
    message: str
    details: dict[str, Any]


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
