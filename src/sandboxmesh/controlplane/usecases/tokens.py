"""API tokens: creating one for oneself, listing them, revoking one.

The API and the portal both call these. Anyone creates tokens for themselves and sees their
own; those who manage the organisation may list everyone's; a token is revoked by its holder
or by whoever may change its holder (`domain.roles.may_change_member`: only owners touch
owners).
"""

from __future__ import annotations

from datetime import timedelta

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import secrets
from sandboxmesh.controlplane.repository.records import ApiToken
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.usecases import authorization


async def create_token(
    org: OrgScope, name: str, *, ttl: timedelta
) -> tuple[ApiToken, secrets.IssuedToken]:
    """A new token of the caller's, valid for `ttl`: its plaintext is shown this once."""
    return await org.tokens.create(member_id=org.principal.member_id, name=name, ttl=ttl)


async def list_tokens(org: OrgScope, *, everyone: bool) -> list[ApiToken]:
    """The caller's own tokens; with `everyone` (403 unless the caller manages the
    organisation) those of every member."""
    if everyone:
        authorization.require_manage(org.principal)
    return await org.tokens.all(member_id=None if everyone else org.principal.member_id)


async def revoke_token(org: OrgScope, prefix: str) -> ApiToken:
    """Revoke a token: one's own, or (admins) another member's whom one may change. The
    tokens of others are not even found for those who may not manage members."""
    token = await org.tokens.find(prefix)
    if token is None:
        raise errors.NotFound("token", prefix)
    if token.member_email != org.principal.email:
        if not authorization.manages(org.principal):
            raise errors.NotFound("token", prefix)
        authorization.require_change_member(org.principal, token.member_role, token.member_email)
    return await org.tokens.revoke(prefix)
