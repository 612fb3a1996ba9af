"""Organisation, teams, members and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from sandboxmesh.controlplane.api.schemas.base import ApiModel, ApiRequest
from sandboxmesh.controlplane.domain import plans
from sandboxmesh.controlplane.domain.plans import Plan
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.repository import records
from sandboxmesh.spec import names

Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Limit = Annotated[StrictInt | None, Field(ge=0, le=1_000_000)]


class WhoAmI(ApiModel):
    email: str
    role: Role
    organization: str


class OrganizationPublic(ApiModel):
    name: str
    plan: Plan
    #: The explicit limit, or null when the plan's default applies.
    max_sandboxes: int | None
    effective_max_sandboxes: int
    #: The plan's limit: the default, and the most the organisation's admins may set.
    plan_max_sandboxes: int
    active_sandboxes: int
    created_at: datetime

    @classmethod
    def of(cls, org: records.Organization) -> OrganizationPublic:
        return cls(
            name=org.name,
            plan=org.plan,
            max_sandboxes=org.max_sandboxes,
            effective_max_sandboxes=plans.organization_limit(org.plan, org.max_sandboxes),
            plan_max_sandboxes=plans.DEFAULT_ORG_LIMIT[org.plan],
            active_sandboxes=org.active_sandboxes,
            created_at=org.created_at,
        )


class QuotaUpdate(ApiRequest):
    #: Maximum concurrent sandboxes; null removes the explicit limit. For the organisation, at
    #: most its plan's (`planMaxSandboxes`), or lower than a limit the installation lifted.
    max_sandboxes: Limit


class PlanUpdate(ApiRequest):
    plan: Plan


class TeamCreate(ApiRequest):
    name: names.DnsLabel
    max_sandboxes: Limit = None


class TeamPublic(ApiModel):
    name: str
    max_sandboxes: int | None
    active_sandboxes: int
    created_at: datetime

    @classmethod
    def of(cls, team: records.Team) -> TeamPublic:
        return cls(
            name=team.name,
            max_sandboxes=team.max_sandboxes,
            active_sandboxes=team.active_sandboxes,
            created_at=team.created_at,
        )


class TeamList(ApiModel):
    items: list[TeamPublic]


class MemberCreate(ApiRequest):
    email: Email
    role: Role = Role.MEMBER
    #: Teams to join; the first is the member's default team.
    teams: list[names.DnsLabel] = Field(default_factory=list, max_length=100)


class MemberUpdate(ApiRequest):
    role: Role | None = None
    teams: list[names.DnsLabel] | None = Field(default=None, max_length=100)


class MemberPublic(ApiModel):
    email: str
    role: Role
    teams: list[str]
    default_team: str | None
    created_at: datetime
    #: `pending` until the person accepts the invitation (a pending member opens nothing).
    status: Literal["active", "pending"]
    accepted_at: datetime | None

    @classmethod
    def of(cls, member: records.Member) -> MemberPublic:
        return cls(
            email=member.email,
            role=member.role,
            teams=list(member.teams),
            default_team=member.default_team,
            created_at=member.created_at,
            status="pending" if member.pending else "active",
            accepted_at=member.accepted_at,
        )


class MemberList(ApiModel):
    items: list[MemberPublic]


class TokenCreate(ApiRequest):
    name: names.DnsLabel
    expires_in_days: StrictInt | None = Field(default=None, ge=1, le=3650)


class TokenPublic(ApiModel):
    name: str
    #: The visible start of the token, to tell tokens apart; the rest is never stored.
    prefix: str
    member: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, token: records.ApiToken) -> TokenPublic:
        return cls(
            name=token.name,
            prefix=token.prefix,
            member=token.member_email,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
        )


class TokenCreated(ApiModel):
    token: TokenPublic
    #: The whole token: shown this once, never again.
    secret: str


class TokenList(ApiModel):
    items: list[TokenPublic]


class InvitationSent(ApiModel):
    #: The visible start of the invitation's token.
    prefix: str
    expires_at: datetime
    #: Whether it was mailed to the member's address.
    mailed: bool
    #: The link, shown this once, when it was not mailed: pass it on to the person. Only a
    #: proven account of the member's address can accept it.
    link: str | None


class MemberCreated(ApiModel):
    #: Pending until the person accepts the invitation.
    member: MemberPublic
    invitation: InvitationSent
