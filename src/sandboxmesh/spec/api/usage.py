"""Usage statements and the audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sandboxmesh.spec.api.base import ApiModel


class TeamUsage(ApiModel):
    team: str
    sandboxes: int
    sandbox_hours: float


class UsageLine(ApiModel):
    team: str
    sandbox: str
    started_at: datetime
    ended_at: datetime | None
    sandbox_hours: float


class UsageStatement(ApiModel):
    organization: str
    month: str
    total_sandbox_hours: float
    teams: list[TeamUsage]
    lines: list[UsageLine]


class TeamDailyUsage(ApiModel):
    team: str
    #: Sandbox-hours on each day of `days`, in the same order.
    sandbox_hours: list[float]
    total_sandbox_hours: float


class DailyUsage(ApiModel):
    organization: str
    month: str
    days: list[date]
    teams: list[TeamDailyUsage]


class AuditEventPublic(ApiModel):
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class AuditList(ApiModel):
    items: list[AuditEventPublic]
