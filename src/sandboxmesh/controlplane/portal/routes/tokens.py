"""API tokens: create (shown once), list, revoke; the same rules as /api/v1/tokens."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from sandboxmesh.controlplane.portal import forms
from sandboxmesh.controlplane.portal.context import Member, SignedIn
from sandboxmesh.controlplane.portal.rendering import page
from sandboxmesh.controlplane.portal.routes import redirects
from sandboxmesh.controlplane.usecases import tokens
from sandboxmesh.controlplane.web.paths import PrefixPath
from sandboxmesh.spec import names

router = APIRouter(prefix="/tokens")


class TokenForm(BaseModel):
    name: names.DnsLabel
    expires_in_days: int = Field(ge=1, le=3650)


async def _tokens_page(
    member: Member,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    problems: forms.Errors | None = None,
) -> Response:
    everyone = member.can.manage
    async with member.org() as org:
        listed = await tokens.list_tokens(org, everyone=everyone)
    default_days = member.visitor.runtime.settings.tokens.default_ttl_days
    return page(
        member,
        "tokens.html",
        section="tokens",
        status=status,
        tokens=listed,
        everyone=everyone,
        values=values or {"expires_in_days": str(default_days)},
        errors=problems or {},
    )


@router.get("")
async def tokens_page(member: SignedIn) -> Response:
    return await _tokens_page(member)


@router.post("")
async def create_token(request: Request, member: SignedIn) -> Response:
    data = await forms.fields(request)
    form, problems = forms.validate(TokenForm, data)
    if form is None:
        return await _tokens_page(member, status=422, values=data, problems=problems)
    async with member.org() as org:
        token, issued = await tokens.create_token(
            org, form.name, ttl=timedelta(days=form.expires_in_days)
        )
    return redirects.with_secret(
        member,
        "/tokens",
        f"Token {token.name} created.",
        {"kind": "token", "name": token.name, "token": issued.plaintext},
    )


@router.post("/{prefix}/revoke")
async def revoke_token(prefix: PrefixPath, member: SignedIn) -> Response:
    async with member.org() as org:
        await tokens.revoke_token(org, prefix)
    return redirects.with_notice(member, "/tokens", f"Token {prefix} revoked.")
