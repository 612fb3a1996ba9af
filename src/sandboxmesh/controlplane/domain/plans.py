"""Billing plans: the organisation limit each gives, and the most its admins may set.

An organisation's admins choose its limit up to its plan's (lower is always allowed); only
the owners of the installation lift it beyond, straight in the store
(`sandboxmesh admin org-limit`).
"""

from __future__ import annotations

# The plan names are the API's (the client reads them too); what each gives is said here.
from sandboxmesh.spec.api.tenancy import Plan as Plan

#: Concurrent sandboxes an organisation may have, per plan, unless an explicit limit is set;
#: also the highest explicit limit its admins may set.
DEFAULT_ORG_LIMIT: dict[Plan, int] = {Plan.FREE: 5, Plan.TEAM: 50, Plan.ENTERPRISE: 1000}


def organization_limit(plan: Plan, explicit: int | None) -> int:
    return explicit if explicit is not None else DEFAULT_ORG_LIMIT[plan]


def limit_refusal(plan: Plan, requested: int | None, current: int | None) -> str | None:
    """Why the organisation's admins may not set `requested` (None: the plan's default) when
    its explicit limit is `current`, or None when they may: at most the plan's limit, or
    lower than the limit it has (one the installation's owners lifted)."""
    ceiling = DEFAULT_ORG_LIMIT[plan]
    if requested is None or requested <= ceiling:
        return None
    if current is not None and requested <= current:
        return None
    return (
        f"the {plan.value} plan allows at most {ceiling} sandboxes: change the plan, or ask "
        "the operators of this installation to lift the limit"
    )


def limit_after_plan_change(old: Plan, new: Plan, explicit: int | None) -> int | None:
    """The explicit limit an organisation keeps when its plan changes from `old` to `new`.

    A limit its admins set within the old plan that the new one does not allow falls back to
    the new plan's default (or a downgrade would keep the dearer plan's limit); one above the
    old plan's, which only the installation's owners can set, is theirs to change and stays.
    """
    if explicit is None or explicit <= DEFAULT_ORG_LIMIT[new]:
        return explicit
    if explicit > DEFAULT_ORG_LIMIT[old]:
        return explicit
    return None
