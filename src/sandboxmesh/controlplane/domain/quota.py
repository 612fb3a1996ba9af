"""Quota decisions, pure: which limit a create would break, and how to name it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LimitScope(StrEnum):
    ORGANIZATION = "organization"
    TEAM = "team"


@dataclass(frozen=True)
class Limit:
    """A limit on concurrent sandboxes; `max` None means the scope has no limit of its own."""

    scope: LimitScope
    name: str
    max: int | None

    def describe(self) -> str:
        return f"the {self.scope.value} {self.name!r} allows at most {self.max} sandboxes"
