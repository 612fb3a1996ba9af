"""The organisation: its sandbox limit, its plan, its audit log.

The API and the portal both call these. Those who manage the organisation set its limit
(within the plan's: `domain.plans.limit_refusal`) and read its audit log; only those who may
change the plan (`domain.roles.may_change_plan`: owners) choose what it pays for.
"""

from __future__ import annotations

from datetime import datetime

from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.repository.records import AuditEvent, Organization
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.usecases import authorization


async def set_organization_limit(org: OrgScope, max_sandboxes: int | None) -> Organization:
    """The admins' limit (None: the plan's default); 422 above the plan's."""
    authorization.require_manage(org.principal)
    return await org.organization.set_limit(max_sandboxes)


async def set_plan(org: OrgScope, plan: Plan) -> Organization:
    authorization.require_plan_change(org.principal)
    return await org.organization.set_plan(plan)


async def audit_events(
    org: OrgScope, *, since: datetime | None = None, action: str | None = None, limit: int = 100
) -> list[AuditEvent]:
    """The newest events first: `limit` of them, of `action` only, or since `since`."""
    authorization.require_manage(org.principal)
    return await org.audit.events(since=since, action=action, limit=limit)
