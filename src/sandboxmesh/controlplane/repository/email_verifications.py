"""Links mailed to an address to prove it: single-use, expiring, unscoped (no organisation yet).

The link carries a random token (`smv_<prefix>_<secret>`); the store keeps its digest and the
visible prefix, like every other token. What the link does once opened rides along with it:
the organisation to create, the invitation to accept. The password is chosen by whoever opens
it, not by whoever asked for it. Using it is a conditional update, so a link works once even
when opened twice at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from sandboxmesh.controlplane.domain import secrets
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import email_verifications


@dataclass(frozen=True)
class Verification:
    """An unused, unexpired link and what it does."""

    id: int
    email: str
    organization: str | None
    invitation_id: int | None
    expires_at: datetime


async def start(
    tx: Tx,
    *,
    email: str,
    ttl: timedelta,
    organization: str | None = None,
    invitation_id: int | None = None,
) -> secrets.IssuedToken:
    """A new link for `email`; returns its token (for the mail, never stored as such)."""
    issued = secrets.issue_token(secrets.TokenKind.VERIFICATION)
    await tx.conn.execute(
        email_verifications.insert().values(
            prefix=issued.prefix,
            token_hash=issued.digest,
            email=email,
            organization=organization,
            invitation_id=invitation_id,
            created_at=tx.now,
            expires_at=tx.now + ttl,
        )
    )
    # A good moment to forget the links of this address that can no longer be used.
    await tx.conn.execute(
        email_verifications.delete().where(
            email_verifications.c.email == email,
            sa.or_(
                email_verifications.c.expires_at <= tx.now,
                email_verifications.c.used_at.is_not(None),
            ),
        )
    )
    return issued


async def find_open(tx: Tx, token: str) -> Verification | None:
    """What an unused, unexpired link does, or None."""
    if secrets.token_kind(token) is not secrets.TokenKind.VERIFICATION:
        return None
    row = (
        await tx.conn.execute(
            sa.select(email_verifications).where(
                email_verifications.c.token_hash == secrets.digest(token),
                email_verifications.c.used_at.is_(None),
                email_verifications.c.expires_at > tx.now,
            )
        )
    ).first()
    if row is None:
        return None
    return Verification(
        id=row.id,
        email=row.email,
        organization=row.organization,
        invitation_id=row.invitation_id,
        expires_at=row.expires_at,
    )


async def use(tx: Tx, token: str) -> Verification | None:
    """Use the link once: what it does, or None when it is unknown, used or expired."""
    found = await find_open(tx, token)
    if found is None:
        return None
    taken = await tx.conn.execute(
        email_verifications.update()
        .where(email_verifications.c.id == found.id, email_verifications.c.used_at.is_(None))
        .values(used_at=tx.now)
    )
    return found if taken.rowcount == 1 else None
