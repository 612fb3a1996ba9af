"""Usage statements and the audit log as the API shows them, built from the domain's figures
and the stored events."""

from __future__ import annotations

from sandboxmesh.controlplane.domain import metering, usage_by_day
from sandboxmesh.controlplane.repository import records
from sandboxmesh.spec.api.usage import (
    AuditEventPublic,
    AuditList,
    DailyUsage,
    TeamDailyUsage,
    TeamUsage,
    UsageLine,
    UsageStatement,
)

__all__ = [
    "AuditEventPublic",
    "AuditList",
    "DailyUsage",
    "TeamDailyUsage",
    "TeamUsage",
    "UsageLine",
    "UsageStatement",
    "audit_event_public",
    "daily_usage",
    "usage_statement",
]


def usage_statement(organization: str, statement: metering.Statement) -> UsageStatement:
    return UsageStatement(
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


def daily_usage(organization: str, usage: usage_by_day.DailyUsage) -> DailyUsage:
    return DailyUsage(
        organization=organization,
        month=usage.month,
        days=list(usage.days),
        teams=[
            TeamDailyUsage(team=t.team, sandbox_hours=list(t.hours), total_sandbox_hours=t.total)
            for t in usage.teams
        ],
    )


def audit_event_public(event: records.AuditEvent) -> AuditEventPublic:
    return AuditEventPublic(
        at=event.at,
        actor=event.actor,
        action=event.action,
        target=event.target,
        details=event.details,
    )
