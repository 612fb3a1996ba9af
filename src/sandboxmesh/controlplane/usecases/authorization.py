"""Who may do what: raises Forbidden, never decides tenancy (the repository does that)."""

from __future__ import annotations

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import roles
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.repository.records import Principal, Team


def manages(principal: Principal) -> bool:
    """Teams, members, quotas, clusters and the audit log."""
    return roles.manages_organization(principal.role)


def require_manage(principal: Principal) -> None:
    """Teams, members, quotas, clusters and the audit log (`roles.manages_organization`)."""
    if not roles.manages_organization(principal.role):
        raise _needs(principal, roles.MANAGES)


def require_plan_change(principal: Principal) -> None:
    if not roles.may_change_plan(principal.role):
        raise _needs(principal, roles.CHANGES_PLAN)


def _needs(principal: Principal, needed: Role) -> errors.Forbidden:
    return errors.Forbidden(
        f"this needs the {needed.value} role; you are {principal.role.value}",
        details={"needed": needed.value, "role": principal.role.value},
    )


def require_sandbox_write(principal: Principal, team: Team) -> None:
    if not roles.may_write_sandboxes(principal.role, in_team=team.id in principal.team_ids):
        raise errors.Forbidden(
            f"you may not change the sandboxes of team {team.name!r}",
            details={"team": team.name, "role": principal.role.value},
        )


def require_sandbox_read(principal: Principal) -> None:
    """See the organisation's sandboxes (`roles.may_read_sandboxes`): its portal pages, its
    preview URLs."""
    if not roles.may_read_sandboxes(principal.role):
        raise errors.Forbidden(
            "you may not see this organisation's sandboxes",
            details={"role": principal.role.value},
        )


def require_trace(principal: Principal) -> None:
    """Trace requests through the organisation's sandboxes (`roles.may_trace_sandboxes`)."""
    if not roles.may_trace_sandboxes(principal.role):
        raise errors.Forbidden(
            "you may not trace this organisation's sandboxes",
            details={"role": principal.role.value},
        )


def require_change_member(principal: Principal, role: Role, email: str) -> None:
    """May change, remove, or revoke the tokens of the member `email`, who has `role`."""
    if roles.may_change_member(principal.role, role):
        return
    require_manage(principal)
    raise errors.Forbidden(
        f"only owners may change {email}, who is an owner",
        details={"needed": Role.OWNER.value, "role": principal.role.value},
    )


def require_grant(principal: Principal, role: Role) -> None:
    if not roles.may_grant(principal.role, role):
        raise errors.Forbidden(
            f"a {principal.role.value} cannot grant the {role.value} role",
            details={"role": role.value},
        )
