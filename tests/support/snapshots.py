"""What an organisation has in the store, as comparable data: to prove nothing was written."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.store import tables

# Bookkeeping that reads legitimately touch (last use of a token, last call of an agent).
_VOLATILE = {"last_used_at", "last_seen_at", "agent_version"}
# The installation's, no organisation's: the keys that sign preview tokens (created by the
# first agent poll or authorize that needs them, whichever organisation's).
_INSTALLATION_WIDE = {tables.preview_signing_keys.name}


def _rows(result: sa.CursorResult[Any]) -> list[dict[str, Any]]:
    return sorted(
        ({k: v for k, v in row.items() if k not in _VOLATILE} for row in result.mappings()),
        key=repr,
    )


async def organization_rows(runtime: Runtime, org_name: str) -> dict[str, list[dict[str, Any]]]:
    """Every row that belongs to `org_name`, table by table."""
    async with runtime.require_store().engine.connect() as connection:
        org_id = await connection.scalar(
            sa.select(tables.organizations.c.id).where(tables.organizations.c.name == org_name)
        )
        found: dict[str, list[dict[str, Any]]] = {}
        for table in tables.metadata.sorted_tables:
            if table.name in _INSTALLATION_WIDE:
                continue
            if "org_id" in table.c:
                query = sa.select(table).where(table.c.org_id == org_id)
            elif table is tables.organizations:
                query = sa.select(table).where(table.c.id == org_id)
            elif table is tables.team_members:
                teams = sa.select(tables.teams.c.id).where(tables.teams.c.org_id == org_id)
                query = sa.select(table).where(table.c.team_id.in_(teams))
            elif table is tables.cluster_tokens:
                clusters = sa.select(tables.clusters.c.id).where(tables.clusters.c.org_id == org_id)
                query = sa.select(table).where(table.c.cluster_id.in_(clusters))
            elif table is tables.users:
                # Portal accounts belong to people; an organisation's are its members' emails.
                emails = sa.select(tables.members.c.email).where(tables.members.c.org_id == org_id)
                query = sa.select(table).where(table.c.email.in_(emails))
            elif table is tables.email_verifications:
                # Links mailed to a member's address, or to join one of the organisation's
                # invitations.
                emails = sa.select(tables.members.c.email).where(tables.members.c.org_id == org_id)
                invited = sa.select(tables.invitations.c.id).where(
                    tables.invitations.c.org_id == org_id
                )
                query = sa.select(table).where(
                    sa.or_(table.c.email.in_(emails), table.c.invitation_id.in_(invited))
                )
            elif table is tables.sandbox_labels:
                owned = sa.select(tables.sandboxes.c.id).where(tables.sandboxes.c.org_id == org_id)
                query = sa.select(table).where(table.c.sandbox_id.in_(owned))
            else:
                raise AssertionError(f"table {table.name} is not mapped to an organisation")
            found[table.name] = _rows(await connection.execute(query))
        return found


async def all_rows(runtime: Runtime) -> dict[str, list[dict[str, Any]]]:
    async with runtime.require_store().engine.connect() as connection:
        return {
            table.name: _rows(await connection.execute(sa.select(table)))
            for table in tables.metadata.sorted_tables
        }
