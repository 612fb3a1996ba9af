"""Lifetime policies: reading and setting an organisation's and a team's.

Every member reads them (they bound what each may create); those who manage the organisation
(`domain.roles.manages_organization`: admins and owners) set them. A team's policy narrows
the organisation's: a team that would raise one of the organisation's maximums is refused
(422 `policy_above_organization`). The API and the portal both call these; the policies are
enforced where sandboxes are applied (usecases/sandboxes.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import lifetime_policy
from sandboxmesh.controlplane.domain.lifetime_policy import Effective, LifetimePolicy, Scope
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.usecases import authorization


@dataclass(frozen=True)
class PolicyView:
    """A scope's own policy, and what applies to its sandboxes."""

    scope: Scope
    name: str
    own: LifetimePolicy
    effective: Effective


async def organization_policy(org: OrgScope) -> PolicyView:
    authorization.require_sandbox_read(org.principal)
    own = await org.policies.organization()
    name = org.principal.org_name
    return PolicyView(
        Scope.ORGANIZATION, name, own, lifetime_policy.effective(own, name, LifetimePolicy(), "")
    )


async def team_policy(org: OrgScope, team: str) -> PolicyView:
    """404 when there is no such team."""
    authorization.require_sandbox_read(org.principal)
    own = await org.policies.team(team)
    org_policy = await org.policies.organization()
    effective = lifetime_policy.effective(org_policy, org.principal.org_name, own, team)
    return PolicyView(Scope.TEAM, team, own, effective)


async def set_organization_policy(org: OrgScope, policy: LifetimePolicy) -> PolicyView:
    """Replace the organisation's policy (admins; 422 a default TTL above the maximum).
    Teams whose policy goes beyond a lowered maximum keep it stored; the lower one applies."""
    authorization.require_manage(org.principal)
    _refuse(lifetime_policy.policy_problems(policy), errors.Invalid)
    await org.policies.set_organization(policy)
    return await organization_policy(org)


async def set_team_policy(org: OrgScope, team: str, policy: LifetimePolicy) -> PolicyView:
    """Replace the team's policy (admins; 404 no such team; 422 a default TTL above the
    maximum, 422 `policy_above_organization` a value above the organisation's maximum)."""
    authorization.require_manage(org.principal)
    _refuse(lifetime_policy.policy_problems(policy), errors.Invalid)
    org_policy = await org.policies.organization()
    _refuse(lifetime_policy.narrowing_problems(org_policy, policy), errors.PolicyAboveOrganization)
    await org.policies.set_team(team, policy)
    return await team_policy(org, team)


def _refuse(problems: list[lifetime_policy.Problem], error: type[errors.Invalid]) -> None:
    if not problems:
        return
    first = problems[0]
    raise error(
        f"body.{first.field.value}: {first.message}",
        details={
            "errors": [
                {"loc": ["body", p.field.value], "msg": p.message, "type": "value_error"}
                for p in problems
            ]
        },
    )
