"""Billing: which month a usage statement covers, for the API and the portal alike."""

from __future__ import annotations

from datetime import datetime

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import metering


def chosen_month(month: str | None, *, now: datetime) -> str:
    """The month asked for (YYYY-MM), by default the one `now` is in (UTC); 422 when out of
    the calendar's range (0000-01)."""
    chosen = month or metering.month_of(now)
    try:
        metering.month_bounds(chosen)
    except ValueError as error:
        raise errors.Invalid.field(["query", "month"], "out of range") from error
    return chosen
