"""The base of every contract model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel

from sandboxmesh.spec import text


class SpecModel(BaseModel):
    """Base of every contract model: camelCase on the wire, unknown fields and NUL refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return text.refuse_nul(value)
