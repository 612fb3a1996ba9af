"""Text the system keeps holds no NUL character.

PostgreSQL refuses NUL in text and JSON values (and even as a query parameter), while SQLite
and Kubernetes would keep it: refusing it where input arrives gives every store the same
answer, a 422 naming the field, instead of a 500 on one of them.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")

NUL_REFUSED = "must not contain NUL characters (\\u0000)"


def contains_nul(value: Any) -> bool:
    """Whether `value`, a string or a list, tuple, set or dict of them (keys too), holds NUL.
    Models nested in it are not searched: each checks its own fields."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(contains_nul(item) for item in value)
    return False


def refuse_nul(value: T) -> T:
    """For a Pydantic field validator: the value unchanged, or a ValueError."""
    if contains_nul(value):
        raise ValueError(NUL_REFUSED)
    return value
