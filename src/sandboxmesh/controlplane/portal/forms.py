"""Reading and checking submitted forms, and turning refusals into messages next to fields.

Forms are validated by Pydantic models; errors come back as `{field: message}` in words a
person can act on (no regular expressions), for the template to show beside each field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import Request

from sandboxmesh.controlplane import errors
from sandboxmesh.spec import names, text

Errors = dict[str, str]
M = TypeVar("M", bound=BaseModel)

DNS_LABEL_HINT = (
    "Use lowercase letters, digits and '-', starting and ending with a letter or digit."
)
_PATTERN_HINTS = {
    names.DNS_LABEL_PATTERN: DNS_LABEL_HINT,
}


async def fields(request: Request) -> dict[str, str]:
    """The submitted text fields (files are ignored), stripped of surrounding blanks; a NUL
    character anywhere refuses the whole form (no browser sends one)."""
    form = await request.form()
    submitted = {key: value.strip() for key, value in form.items() if isinstance(value, str)}
    if text.contains_nul(submitted):
        raise errors.Invalid(f"a form field {text.NUL_REFUSED}")
    return submitted


def friendly(error: ErrorDetails) -> str:
    kind = error["type"]
    context: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "missing":
        return "This is required."
    if kind == "string_too_short":
        return "This is required." if context.get("min_length") == 1 else error["msg"] + "."
    if kind == "string_too_long":
        return f"Use at most {context.get('max_length')} characters."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "Enter a whole number."
    if kind == "greater_than_equal":
        return f"Use {context.get('ge')} or more."
    if kind == "less_than_equal":
        return f"Use {context.get('le')} or less."
    if kind == "enum":
        return "Choose one of the options."
    if kind == "string_pattern_mismatch":
        return _PATTERN_HINTS.get(str(context.get("pattern")), "This is not in the expected form.")
    return sentence(re.sub(r"^(Value|Assertion) error, ", "", error["msg"]))


def sentence(message: str) -> str:
    """A message of the API ("no team 'x'") as a sentence on a page ("No team 'x'.")."""
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def validate(
    model: type[M],
    data: Mapping[str, Any],
    *,
    field_of: Callable[[tuple[int | str, ...]], str] | None = None,
) -> tuple[M | None, Errors]:
    """The model, or None and the errors by field (the first error of each field)."""
    try:
        return model.model_validate(data), {}
    except ValidationError as invalid:
        return None, messages(invalid.errors(), field_of=field_of)


def messages(
    found: list[ErrorDetails], *, field_of: Callable[[tuple[int | str, ...]], str] | None = None
) -> Errors:
    result: Errors = {}
    for error in found:
        location = tuple(error["loc"])
        name = field_of(location) if field_of else (str(location[0]) if location else "")
        result.setdefault(name or "__all__", friendly(error))
    return result


def from_api_error(error: errors.ApiError, *, field: str = "__all__") -> Errors:
    """A refusal from the repository (conflict, quota, not found...) as a form error."""
    details = error.details.get("errors") if isinstance(error, errors.Invalid) else None
    if details:
        return {field: str(details[0].get("msg", error.message))}
    return {field: error.message[:1].upper() + error.message[1:]}
