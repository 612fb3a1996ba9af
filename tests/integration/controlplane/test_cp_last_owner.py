"""Two owners demoting each other at the same moment on PostgreSQL leave one owner, not none.

The last-owner check counts the other owners; without a lock, each of two concurrent
transactions sees the other owner still there, both commit, and the organisation is left
with nobody who can manage owners. SQLite serialises writers, so this is PostgreSQL's test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from tests.support import databases
from tests.support.controlplane import Org, accepted_member
from tests.support.eventually import eventually_async

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain.roles import Role
from sandboxmesh.controlplane.repository.records import Principal
from sandboxmesh.controlplane.repository.scope import OrgScope
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.runtime import Runtime
from sandboxmesh.controlplane.store.tables import members, organizations

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_admin: str | None) -> Iterator[str]:
    with databases.fresh_postgres_database(postgres_admin) as url:
        yield url


async def _waiting_on_a_lock(runtime: Runtime) -> bool:
    async with runtime.require_store().engine.connect() as connection:
        waiting = await connection.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


async def test_two_owners_demoting_each_other_at_once_leave_one(
    acme: Org, runtime: Runtime
) -> None:
    second = await accepted_member(acme, runtime, "second@acme.example", role="owner")
    await second.aclose()
    first_in = asyncio.Event()
    finish_first = asyncio.Event()

    async def demote(actor: str, target: str, *, hold: bool) -> None:
        async with runtime.unit_of_work() as tx:
            principal = await _principal(tx, actor)
            await OrgScope(tx, principal).members.update(target, role=Role.ADMIN, teams_=None)
            if hold:
                first_in.set()
                await finish_first.wait()

    first = asyncio.create_task(demote("owner@acme.example", "second@acme.example", hold=True))
    await first_in.wait()
    second_demotion = asyncio.create_task(
        demote("second@acme.example", "owner@acme.example", hold=False)
    )
    # The second either finished (no lock: the race is lost) or waits on the first's lock.
    await eventually_async(
        lambda: _done_or_waiting(second_demotion, runtime),
        timeout=10,
        what="the second demotion to finish or to wait on a lock",
    )
    finish_first.set()
    await first
    with pytest.raises(errors.Conflict, match="at least one owner"):
        await second_demotion
    async with runtime.unit_of_work() as tx:
        owners = (
            await tx.conn.execute(
                sa.select(members.c.email).where(members.c.role == Role.OWNER.value)
            )
        ).scalars()
        assert list(owners) == ["owner@acme.example"]


async def _done_or_waiting(task: asyncio.Task[None], runtime: Runtime) -> bool | None:
    return True if task.done() or await _waiting_on_a_lock(runtime) else None


async def _principal(tx: Tx, email: str) -> Principal:
    """The member `email` of acme as a caller (what authenticating their token gives)."""
    row = (
        await tx.conn.execute(
            sa.select(members, organizations.c.name.label("org_name"))
            .join(organizations, organizations.c.id == members.c.org_id)
            .where(members.c.email == email)
        )
    ).one()
    return Principal(
        member_id=row.id,
        email=row.email,
        role=Role(row.role),
        org_id=row.org_id,
        org_name=row.org_name,
        token_id=None,
        team_ids=frozenset(),
        default_team_id=row.default_team_id,
    )
