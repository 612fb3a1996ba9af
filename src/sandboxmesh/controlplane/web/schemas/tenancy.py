"""Organisation, teams, members and API tokens as the API shows them, built from the stored
records."""

from __future__ import annotations

from sandboxmesh.controlplane.domain import plans
from sandboxmesh.controlplane.repository import records
from sandboxmesh.spec.api.tenancy import (
    Email,
    InvitationSent,
    Limit,
    MemberCreate,
    MemberCreated,
    MemberList,
    MemberPublic,
    MemberUpdate,
    OrganizationPublic,
    PlanUpdate,
    QuotaUpdate,
    TeamCreate,
    TeamList,
    TeamPublic,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenPublic,
    WhoAmI,
)

__all__ = [
    "Email",
    "InvitationSent",
    "Limit",
    "MemberCreate",
    "MemberCreated",
    "MemberList",
    "MemberPublic",
    "MemberUpdate",
    "OrganizationPublic",
    "PlanUpdate",
    "QuotaUpdate",
    "TeamCreate",
    "TeamList",
    "TeamPublic",
    "TokenCreate",
    "TokenCreated",
    "TokenList",
    "TokenPublic",
    "WhoAmI",
    "member_public",
    "organization_public",
    "team_public",
    "token_public",
]


def organization_public(org: records.Organization) -> OrganizationPublic:
    return OrganizationPublic(
        name=org.name,
        plan=org.plan,
        max_sandboxes=org.max_sandboxes,
        effective_max_sandboxes=plans.organization_limit(org.plan, org.max_sandboxes),
        plan_max_sandboxes=plans.DEFAULT_ORG_LIMIT[org.plan],
        active_sandboxes=org.active_sandboxes,
        created_at=org.created_at,
    )


def team_public(team: records.Team) -> TeamPublic:
    return TeamPublic(
        name=team.name,
        max_sandboxes=team.max_sandboxes,
        active_sandboxes=team.active_sandboxes,
        created_at=team.created_at,
    )


def member_public(member: records.Member) -> MemberPublic:
    return MemberPublic(
        email=member.email,
        role=member.role,
        teams=list(member.teams),
        default_team=member.default_team,
        created_at=member.created_at,
        status="pending" if member.pending else "active",
        accepted_at=member.accepted_at,
    )


def token_public(token: records.ApiToken) -> TokenPublic:
    return TokenPublic(
        name=token.name,
        prefix=token.prefix,
        member=token.member_email,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )
