"""Usage and billing (the chart, the statement and its downloads) and the audit log."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from sandboxmesh.controlplane.domain import metering
from sandboxmesh.controlplane.portal import charts
from sandboxmesh.controlplane.portal.context import SignedIn
from sandboxmesh.controlplane.portal.rendering import page
from sandboxmesh.controlplane.usecases import billing, organization
from sandboxmesh.controlplane.web.schemas.usage import (
    audit_event_public,
    usage_statement,
)

router = APIRouter()

Month = Annotated[str | None, Query(pattern=metering.MONTH_PATTERN)]
TeamFilter = Annotated[str, Query(max_length=63)]


def _previous(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year - (number == 1)}-{(number - 2) % 12 + 1:02d}"


def _next(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + (number == 12)}-{number % 12 + 1:02d}"


def _checked(month: str | None, member: SignedIn) -> str:
    return billing.chosen_month(month, now=member.visitor.runtime.clock())


@router.get("/usage")
async def usage_page(member: SignedIn, month: Month = None, team: TeamFilter = "") -> Response:
    chosen = _checked(month, member)
    async with member.org() as org:
        statement = await org.usage.statement(month=chosen, team=team or None)
        daily = await org.usage.daily(month=chosen, team=team or None)
        teams = [t.name for t in await org.teams.all()]
    current = metering.month_of(member.visitor.runtime.clock())
    return page(
        member,
        "usage.html",
        section="usage",
        month=chosen,
        team=team,
        teams=teams,
        statement=statement,
        chart=charts.stacked_bars(daily),
        daily=daily,
        previous=_previous(chosen),
        next=_next(chosen) if chosen < current else None,
    )


@router.get("/usage/statement.{extension}")
async def statement_download(
    member: SignedIn, extension: str, month: Month = None, team: TeamFilter = ""
) -> Response:
    """The month's statement as the API gives it: CSV or JSON, as a file to save."""
    if extension not in ("csv", "json"):
        return Response(status_code=404)
    chosen = _checked(month, member)
    async with member.org() as org:
        statement = await org.usage.statement(month=chosen, team=team or None)
    name = f"sandboxmesh-usage-{member.principal.org_name}-{chosen}.{extension}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if extension == "csv":
        return Response(metering.statement_csv(statement), media_type="text/csv", headers=headers)
    body = usage_statement(member.principal.org_name, statement).model_dump(
        mode="json", by_alias=True
    )
    return Response(json.dumps(body, indent=2), media_type="application/json", headers=headers)


@router.get("/audit")
async def audit_page(
    member: SignedIn,
    action: Annotated[str, Query(max_length=64)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    async with member.org() as org:
        events = await organization.audit_events(org, action=action or None, limit=limit)
    return page(
        member,
        "audit.html",
        section="audit",
        action=action,
        events=[audit_event_public(e) for e in events],
    )
