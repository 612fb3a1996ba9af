"""Roles and what each may do. Ordered: owner > admin > member > viewer."""

from __future__ import annotations

# The role names are the API's (the client reads them too); what each may do is said here.
from sandboxmesh.spec.api.tenancy import Role as Role

_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def at_least(role: Role, needed: Role) -> bool:
    return _RANK[role] >= _RANK[needed]


#: The least role that manages teams, members, quotas, clusters and the audit log.
MANAGES = Role.ADMIN
#: The least role that chooses the organisation's plan (what it pays for).
CHANGES_PLAN = Role.OWNER


def manages_organization(role: Role) -> bool:
    """Teams, members, quotas, clusters and the audit log: admins and owners."""
    return at_least(role, MANAGES)


def may_change_plan(role: Role) -> bool:
    """The organisation's plan: owners only."""
    return at_least(role, CHANGES_PLAN)


def may_write_sandboxes(role: Role, *, in_team: bool) -> bool:
    """Members write the sandboxes of their own teams; admins and owners write every team's."""
    return manages_organization(role) or (role is Role.MEMBER and in_team)


def may_read_sandboxes(role: Role) -> bool:
    """Every member reads every sandbox of the organisation, viewers included."""
    return at_least(role, Role.VIEWER)


def may_trace_sandboxes(role: Role) -> bool:
    """Trace a request's route through a sandbox: whoever may read the sandbox (a trace
    changes nothing of it; the route server logs the request the user sends anyway)."""
    return may_read_sandboxes(role)


def may_create_sandboxes(role: Role, *, has_team: bool) -> bool:
    """In some team at all: admins and owners (every team), members who belong to one."""
    return may_write_sandboxes(role, in_team=has_team)


def may_grant(granter: Role, role: Role) -> bool:
    """Only owners make owners; admins grant admin and below."""
    if role is Role.OWNER:
        return granter is Role.OWNER
    return manages_organization(granter)


def may_change_member(actor: Role, member: Role) -> bool:
    """Change the role or teams of a member who has `member`'s role, remove them, or revoke
    their API tokens: admins and owners, and only owners touch owners."""
    return manages_organization(actor) and (member is not Role.OWNER or actor is Role.OWNER)
