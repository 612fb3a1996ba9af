"""Usage statements and the audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sandboxmesh.controlplane.api.schemas.base import ApiModel
from sandboxmesh.controlplane.domain import metering, usage_by_day
from sandboxmesh.controlplane.repository import records


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

    @classmethod
    def of(cls, organization: str, statement: metering.Statement) -> UsageStatement:
        return cls(
            organization=organization,
            month=statement.month,
            total_sandbox_hours=statement.total_hours,
            teams=[
                TeamUsage(team=t.team, sandboxes=t.sandboxes, sandbox_hours=t.hours)
                for t in statement.teams
            ],
            lines=[
                UsageLine(
                    team=line.team,
                    sandbox=line.sandbox,
                    started_at=line.started_at,
                    ended_at=line.ended_at,
                    sandbox_hours=line.hours,
                )
                for line in statement.lines
            ],
        )


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

    @classmethod
    def of(cls, organization: str, usage: usage_by_day.DailyUsage) -> DailyUsage:
        return cls(
            organization=organization,
            month=usage.month,
            days=list(usage.days),
            teams=[
                TeamDailyUsage(
                    team=t.team, sandbox_hours=list(t.hours), total_sandbox_hours=t.total
                )
                for t in usage.teams
            ],
        )


class AuditEventPublic(ApiModel):
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]

    @classmethod
    def of(cls, event: records.AuditEvent) -> AuditEventPublic:
        return cls(
            at=event.at,
            actor=event.actor,
            action=event.action,
            target=event.target,
            details=event.details,
        )


class AuditList(ApiModel):
    items: list[AuditEventPublic]
