"""The caller, their organisation (plan, limit), the audit log and the usage statement."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.api.deps import AdminScope, OrgScope, Principal
from sandboxmesh.controlplane.api.schemas.base import ERROR_RESPONSES
from sandboxmesh.controlplane.domain import metering
from sandboxmesh.controlplane.usecases import billing, organization
from sandboxmesh.controlplane.web.schemas import usage as usage_bodies
from sandboxmesh.controlplane.web.schemas.tenancy import (
    OrganizationPublic,
    PlanUpdate,
    QuotaUpdate,
    WhoAmI,
    organization_public,
)
from sandboxmesh.controlplane.web.schemas.usage import AuditList, DailyUsage, UsageStatement
from sandboxmesh.spec import names

router = APIRouter(prefix="/api/v1", tags=["organization"], responses=ERROR_RESPONSES)


@router.get("/whoami")
async def whoami(principal: Principal) -> WhoAmI:
    return WhoAmI(email=principal.email, role=principal.role, organization=principal.org_name)


@router.get("/organization")
async def get_organization(org: OrgScope) -> OrganizationPublic:
    return organization_public(await org.organization.get())


@router.put("/organization/quota")
async def set_organization_quota(body: QuotaUpdate, org: AdminScope) -> OrganizationPublic:
    return organization_public(await organization.set_organization_limit(org, body.max_sandboxes))


@router.put("/organization/plan")
async def set_plan(body: PlanUpdate, org: OrgScope) -> OrganizationPublic:
    return organization_public(await organization.set_plan(org, body.plan))


@router.get("/audit")
async def audit_log(
    org: AdminScope,
    since: Annotated[AwareDatetime | None, Query(description="with a time zone")] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditList:
    try:
        since = since.astimezone(UTC) if since is not None else None
    except OverflowError as error:
        raise errors.Invalid.field(["query", "since"], "out of range") from error
    events = await organization.audit_events(org, since=since, action=action, limit=limit)
    return AuditList(items=[usage_bodies.audit_event_public(event) for event in events])


@router.get(
    "/usage",
    response_model=UsageStatement,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}},
)
async def usage(
    org: OrgScope,
    month: Annotated[str | None, Query(pattern=metering.MONTH_PATTERN)] = None,
    team: Annotated[
        str | None, Query(min_length=1, max_length=63, pattern=names.DNS_LABEL_PATTERN)
    ] = None,
    format: Literal["json", "csv"] = "json",
) -> UsageStatement | Response:
    """Sandbox-hours per team for one month (UTC), by default the current one."""
    chosen = billing.chosen_month(month, now=org.tx.now)
    statement = await org.usage.statement(month=chosen, team=team)
    # A deleted team keeps its history: only refuse a name that is neither a team nor metered.
    if team is not None and not statement.lines and await org.teams.find(team) is None:
        raise errors.NotFound("team", team)
    if format == "csv":
        return Response(metering.statement_csv(statement), media_type="text/csv")
    return usage_bodies.usage_statement(org.principal.org_name, statement)


@router.get("/usage/daily")
async def daily_usage(
    org: OrgScope,
    month: Annotated[str | None, Query(pattern=metering.MONTH_PATTERN)] = None,
    team: Annotated[
        str | None, Query(min_length=1, max_length=63, pattern=names.DNS_LABEL_PATTERN)
    ] = None,
) -> DailyUsage:
    """Sandbox-hours per team and UTC day for one month, by default the current one."""
    chosen = billing.chosen_month(month, now=org.tx.now)
    usage = await org.usage.daily(month=chosen, team=team)
    if team is not None and not usage.teams and await org.teams.find(team) is None:
        raise errors.NotFound("team", team)
    return usage_bodies.daily_usage(org.principal.org_name, usage)
