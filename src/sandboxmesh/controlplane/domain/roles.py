"""Roles and what each may do. Ordered: owner > admin > member > viewer."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def at_least(role: Role, needed: Role) -> bool:
    return _RANK[role] >= _RANK[needed]


def manages_organization(role: Role) -> bool:
    """Teams, members, quotas, clusters and the audit log: admins and owners."""
    return at_least(role, Role.ADMIN)


def may_write_sandboxes(role: Role, *, in_team: bool) -> bool:
    """Members write the sandboxes of their own teams; admins and owners write every team's."""
    return manages_organization(role) or (role is Role.MEMBER and in_team)


def may_grant(granter: Role, role: Role) -> bool:
    """Only owners make owners; admins grant admin and below."""
    if role is Role.OWNER:
        return granter is Role.OWNER
    return manages_organization(granter)


def may_change_member(actor: Role, member: Role) -> bool:
    """Change the role or teams of a member who has `member`'s role, remove them, or revoke
    their API tokens: admins and owners, and only owners touch owners."""
    return manages_organization(actor) and (member is not Role.OWNER or actor is Role.OWNER)
