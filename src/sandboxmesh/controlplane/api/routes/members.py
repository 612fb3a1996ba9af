"""Members, their roles and teams; and API tokens."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, status

from sandboxmesh.controlplane.api.deps import AdminScope, Caller, OrgScope
from sandboxmesh.controlplane.api.schemas.base import ERROR_RESPONSES
from sandboxmesh.controlplane.usecases import members, tokens
from sandboxmesh.controlplane.web.dependencies import RuntimeDep
from sandboxmesh.controlplane.web.paths import EmailPath, PrefixPath
from sandboxmesh.controlplane.web.schemas.tenancy import (
    InvitationSent,
    MemberCreate,
    MemberCreated,
    MemberList,
    MemberPublic,
    MemberUpdate,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenPublic,
    member_public,
    token_public,
)

router = APIRouter(prefix="/api/v1", tags=["members"], responses=ERROR_RESPONSES)


@router.get("/members")
async def list_members(org: OrgScope) -> MemberList:
    return MemberList(items=[member_public(m) for m in await org.members.all()])


@router.post("/members", status_code=status.HTTP_201_CREATED)
async def add_member(body: MemberCreate, caller: Caller, runtime: RuntimeDep) -> MemberCreated:
    """Add a pending member and mail them an invitation; without a mail server the answer
    carries the invitation link (shown this once) to pass on. Nothing opens for the member
    until they accept it with a proven account of that address."""
    invited = await members.invite_member(
        runtime, caller, email=body.email, role=body.role, teams=body.teams
    )
    return MemberCreated(
        member=member_public(invited.member),
        invitation=InvitationSent(
            prefix=invited.invitation.prefix,
            expires_at=invited.invitation.expires_at,
            mailed=invited.mailed,
            link=invited.link,
        ),
    )


@router.get("/members/{email}")
async def get_member(email: EmailPath, org: OrgScope) -> MemberPublic:
    return member_public(await org.members.get(email))


@router.patch("/members/{email}")
async def update_member(email: EmailPath, body: MemberUpdate, org: AdminScope) -> MemberPublic:
    return member_public(await members.change_member(org, email, role=body.role, teams=body.teams))


@router.delete("/members/{email}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(email: EmailPath, org: AdminScope) -> None:
    await members.remove_member(org, email)


@router.get("/tokens")
async def list_tokens(org: OrgScope, all: bool = False) -> TokenList:
    """Your own tokens; with `all=true` (admins) everyone's in the organisation."""
    return TokenList(items=[token_public(t) for t in await tokens.list_tokens(org, everyone=all)])


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(body: TokenCreate, org: OrgScope, runtime: RuntimeDep) -> TokenCreated:
    """A new token for yourself; the answer is the only time its secret is shown."""
    days = body.expires_in_days or runtime.settings.tokens.default_ttl_days
    token, issued = await tokens.create_token(org, body.name, ttl=timedelta(days=days))
    return TokenCreated(token=token_public(token), secret=issued.plaintext)


@router.delete("/tokens/{prefix}")
async def revoke_token(prefix: PrefixPath, org: OrgScope) -> TokenPublic:
    """Revoke a token: refused from the next request on. Admins may revoke those of members
    they may change (only owners touch owners)."""
    return token_public(await tokens.revoke_token(org, prefix))
