"""Billing plans and the organisation limit each gives when none is set explicitly."""

from __future__ import annotations

from enum import StrEnum


class Plan(StrEnum):
    FREE = "free"
    TEAM = "team"
    ENTERPRISE = "enterprise"


#: Concurrent sandboxes an organisation may have, per plan, unless an explicit limit is set.
DEFAULT_ORG_LIMIT: dict[Plan, int] = {Plan.FREE: 5, Plan.TEAM: 50, Plan.ENTERPRISE: 1000}


def organization_limit(plan: Plan, explicit: int | None) -> int:
    return explicit if explicit is not None else DEFAULT_ORG_LIMIT[plan]
