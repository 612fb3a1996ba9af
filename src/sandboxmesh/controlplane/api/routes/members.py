"""Members, their roles and teams; and API tokens."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, status

from sandboxmesh.controlplane.api import authorization
from sandboxmesh.controlplane.api.deps import AdminScope, OrgScope, RuntimeDep
from sandboxmesh.controlplane.api.paths import EmailPath, PrefixPath
from sandboxmesh.controlplane.api.schemas.base import ERROR_RESPONSES
from sandboxmesh.controlplane.api.schemas.tenancy import (
    MemberCreate,
    MemberCreated,
    MemberList,
    MemberPublic,
    MemberUpdate,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenPublic,
)
from sandboxmesh.controlplane.domain import roles
from sandboxmesh.controlplane.domain.roles import Role

router = APIRouter(prefix="/api/v1", tags=["members"], responses=ERROR_RESPONSES)


@router.get("/members")
async def list_members(org: OrgScope) -> MemberList:
    return MemberList(items=[MemberPublic.of(m) for m in await org.members.all()])


@router.post("/members", status_code=status.HTTP_201_CREATED)
async def add_member(body: MemberCreate, org: AdminScope, runtime: RuntimeDep) -> MemberCreated:
    """Add a member; the answer carries their first API token, shown this once."""
    authorization.require_grant(org.principal, body.role)
    member = await org.members.add(body.email, role=body.role, teams_=body.teams)
    token, issued = await org.tokens.create(
        member_id=member.id,
        name="initial",
        ttl=timedelta(days=runtime.settings.tokens.default_ttl_days),
    )
    return MemberCreated(
        member=MemberPublic.of(member),
        token=TokenCreated(token=TokenPublic.of(token), secret=issued.plaintext),
    )


@router.get("/members/{email}")
async def get_member(email: EmailPath, org: OrgScope) -> MemberPublic:
    return MemberPublic.of(await org.members.get(email))


@router.patch("/members/{email}")
async def update_member(email: EmailPath, body: MemberUpdate, org: AdminScope) -> MemberPublic:
    current = await org.members.get(email)
    if body.role is not None:
        authorization.require_grant(org.principal, body.role)
    if current.role is Role.OWNER and body.role not in (None, Role.OWNER):
        authorization.require(org.principal, Role.OWNER)
    return MemberPublic.of(await org.members.update(email, role=body.role, teams_=body.teams))


@router.delete("/members/{email}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(email: EmailPath, org: AdminScope) -> None:
    member = await org.members.get(email)
    if member.role is Role.OWNER:
        authorization.require(org.principal, Role.OWNER)
    await org.members.remove(email)


@router.get("/tokens")
async def list_tokens(org: OrgScope, all: bool = False) -> TokenList:
    """Your own tokens; with `all=true` (admins) everyone's in the organisation."""
    if all:
        authorization.require(org.principal, Role.ADMIN)
    tokens = await org.tokens.all(member_id=None if all else org.principal.member_id)
    return TokenList(items=[TokenPublic.of(t) for t in tokens])


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(body: TokenCreate, org: OrgScope, runtime: RuntimeDep) -> TokenCreated:
    """A new token for yourself; the answer is the only time its secret is shown."""
    days = body.expires_in_days or runtime.settings.tokens.default_ttl_days
    token, issued = await org.tokens.create(
        member_id=org.principal.member_id, name=body.name, ttl=timedelta(days=days)
    )
    return TokenCreated(token=TokenPublic.of(token), secret=issued.plaintext)


@router.delete("/tokens/{prefix}")
async def revoke_token(prefix: PrefixPath, org: OrgScope) -> TokenPublic:
    """Revoke a token: refused from the next request on. Admins may revoke anyone's."""
    own_only = not roles.manages_organization(org.principal.role)
    return TokenPublic.of(
        await org.tokens.revoke(prefix, member_id=org.principal.member_id if own_only else None)
    )
