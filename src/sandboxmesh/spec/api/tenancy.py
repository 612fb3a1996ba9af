"""Organisation, teams, members and API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from sandboxmesh.spec import names
from sandboxmesh.spec.api.base import ApiModel, ApiRequest


# What each role may do is the control plane's domain (`controlplane.domain.roles`); the names
# are the API's. Ordered: owner > admin > member > viewer.
class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


# The limits each plan gives are the control plane's domain (`controlplane.domain.plans`).
class Plan(StrEnum):
    FREE = "free"
    TEAM = "team"
    ENTERPRISE = "enterprise"


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
