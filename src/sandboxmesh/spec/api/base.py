"""The base of every API body: camelCase on the wire, unknown fields refused; and of every
request body, which refuses NUL characters too (see `sandboxmesh.spec.text`).

Shared by the control plane, which answers with these models, and the client, which decodes
its answers into them: the API's JSON is the contract, written once.
"""

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
