"""A batch of sandbox creates of one organisation, in one transaction: lock, decide, write.

The same steps on both stores, for any number of creates:

1. lock the counters: the organisation's, and those of the teams and clusters the creates
   name, with the clusters' revisions (`LOCK_COUNTERS*`);
2. when a per-member limit of a lifetime policy applies to a create, count what its holder
   holds (`HELD_*`: a statement of its own, after the lock, so that it reads the sandboxes
   the writers it waited for committed);
3. decide every create with `domain.quota.decide`, the one quota rule;
4. write the accepted creates: the sandboxes, their labels, usage records and audit events,
   both counters, and each cluster's revision (the accepted creates of a cluster take its
   next revisions, in batch order), announced on PostgreSQL by a NOTIFY at the commit.

The caller owns the transaction: `commit_batch` opens and commits one of its own on an
asyncpg connection (the create queue, create_queue.py); `Sandboxes.apply` runs a batch of one
inside its unit of work's. A refused create writes nothing; an error (a name taken since it was
read, a value the database refuses) rolls the whole transaction back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from sandboxmesh.controlplane.domain import plans, quota
from sandboxmesh.controlplane.repository import sandbox_statements as statements
from sandboxmesh.controlplane.store.prepared import DIALECT
from sandboxmesh.controlplane.store.tables import UtcDateTime
from sandboxmesh.spec import Phase

_UTC = UtcDateTime()


@dataclass(frozen=True)
class NewSandbox:
    """One create, with everything written for it."""

    name: str
    team_id: int
    team_name: str
    cluster_id: int
    spec: Mapping[str, Any]
    routing_key: str
    actor: str
    at: datetime
    expires_at: datetime | None
    labels: Mapping[str, str]
    audit_details: Mapping[str, Any]
    #: The lifetime policy's per-member limits: the organisation's, the team's (None: none).
    member_max_org: int | None = None
    member_max_team: int | None = None


@dataclass(frozen=True)
class Created:
    sandbox_id: int
    revision: int


#: A create's outcome: made, or refused (`quota.Refused`: nothing of it was written).
Outcome = Created | quota.Refused


@dataclass(frozen=True)
class Accepted:
    """A create the quota let through, and the revision of its cluster it takes."""

    new: NewSandbox
    revision: int


class Writer(Protocol):
    """The statements of a batch on one store, inside the caller's transaction."""

    async def lock_counters(
        self, org_id: int, team_ids: list[int], cluster_ids: list[int]
    ) -> Sequence[Mapping[str, Any]]: ...

    async def count_held(self, org_id: int, holders: list[str]) -> Sequence[Mapping[str, Any]]:
        """Live sandboxes per holder and team: rows of holder, team_id, held."""
        ...

    async def write(self, org_id: int, accepted: Sequence[Accepted]) -> list[int]:
        """Write `accepted` (at least one), in order; their sandbox ids, in the same order."""
        ...


async def create_batch(writer: Writer, org_id: int, batch: Sequence[NewSandbox]) -> list[Outcome]:
    """Lock, decide and write `batch` (names distinct) with `writer`: an outcome per create,
    in order. Raises what the store raises (sqlalchemy's IntegrityError for a name taken);
    the caller then rolls its transaction back."""
    rows = await writer.lock_counters(
        org_id,
        sorted({new.team_id for new in batch}),
        sorted({new.cluster_id for new in batch}),
    )
    counters, revisions = _counters(rows)
    wanted = [
        quota.Wanted(
            new.team_id,
            new.cluster_id,
            holder=new.actor,
            member_max_org=new.member_max_org,
            member_max_team=new.member_max_team,
        )
        for new in batch
    ]
    holders = sorted({w.holder for w in wanted if w.member_limited})
    if holders and counters.organization is not None:
        held = await writer.count_held(org_id, holders)
        counters = dataclasses.replace(
            counters, held={(row["holder"], row["team_id"]): row["held"] for row in held}
        )
    verdicts = quota.decide(counters, wanted)
    accepted: list[Accepted] = []
    for new, verdict in zip(batch, verdicts, strict=True):
        if isinstance(verdict, quota.Accepted):
            revisions[new.cluster_id] += 1
            accepted.append(Accepted(new, revisions[new.cluster_id]))
    sandbox_ids = iter(await writer.write(org_id, accepted) if accepted else [])
    outcomes: list[Outcome] = []
    taken = iter(accepted)
    for verdict in verdicts:
        if isinstance(verdict, quota.Refused):
            outcomes.append(verdict)
        else:
            outcomes.append(Created(sandbox_id=next(sandbox_ids), revision=next(taken).revision))
    return outcomes


def _counters(rows: Sequence[Mapping[str, Any]]) -> tuple[quota.Counters, dict[int, int]]:
    """The counters the rows of LOCK_COUNTERS hold, and each cluster's revision."""
    if not rows:
        return quota.Counters(organization=None), {}
    first = rows[0]
    organization = quota.Count(
        first["org_name"],
        first["org_active"],
        plans.organization_limit(plans.Plan(first["org_plan"]), first["org_max"]),
    )
    teams = {
        row["team_id"]: quota.Count(row["team_name"], row["team_active"], row["team_max"])
        for row in rows
    }
    revisions = {row["cluster_id"]: row["cluster_revision"] for row in rows}
    return quota.Counters(organization, teams, frozenset(revisions)), revisions


async def commit_batch(
    connection: asyncpg.Connection, org_id: int, batch: Sequence[NewSandbox]
) -> list[Outcome]:
    """`create_batch` in a transaction of its own on `connection`, committed before this
    returns (rolled back when it raises)."""
    async with connection.transaction():
        return await create_batch(OnPostgres(connection), org_id, batch)


class OnPostgres:
    """A batch's statements on asyncpg's connection: two round trips, the lock and the write."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def lock_counters(
        self, org_id: int, team_ids: list[int], cluster_ids: list[int]
    ) -> Sequence[Mapping[str, Any]]:
        return await statements.LOCK_COUNTERS_POSTGRES.fetch_all(
            self._connection, {"org": org_id, "teams": team_ids, "clusters": cluster_ids}
        )

    async def count_held(self, org_id: int, holders: list[str]) -> Sequence[Mapping[str, Any]]:
        return await statements.HELD_POSTGRES.fetch_all(
            self._connection, {"org": org_id, "holders": holders}
        )

    async def write(self, org_id: int, accepted: Sequence[Accepted]) -> list[int]:
        rows = await statements.WRITE_BATCH_POSTGRES.fetch_all(
            self._connection,
            {
                "org": org_id,
                "items": [_item(position, made) for position, made in enumerate(accepted)],
                "phase_value": Phase.PENDING.value,
            },
        )
        return [int(row["sandbox_id"]) for row in rows]


def _item(position: int, made: Accepted) -> dict[str, Any]:
    """One accepted create as an element of WRITE_BATCH_POSTGRES's `items` (ITEM_COLUMNS)."""
    new = made.new
    return {
        "ord": position,
        "name": new.name,
        "team": new.team_id,
        "cluster": new.cluster_id,
        "revision": made.revision,
        "spec": new.spec,
        "routing": new.routing_key,
        "actor": new.actor,
        "at": _stored(new.at),
        "expiry": _stored(new.expires_at),
        "team_label": new.team_name,
        "labels": new.labels,
        "audit_target": f"sandbox/{new.name}",
        "audit_details": new.audit_details,
    }


def _stored(moment: datetime | None) -> str | None:
    """`moment` as its column stores it (naive UTC), written for JSON."""
    stored = _UTC.process_bind_param(moment, DIALECT)
    return None if stored is None else stored.isoformat()


class OnSqlAlchemy:
    """A batch's statements through SQLAlchemy, one after the other (SQLite, which has no
    data-modifying WITH; its write lock is held from the transaction's first statement)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lock_counters(
        self, org_id: int, team_ids: list[int], cluster_ids: list[int]
    ) -> Sequence[Mapping[str, Any]]:
        found = await self._connection.execute(
            statements.LOCK_COUNTERS, {"org": org_id, "teams": team_ids, "clusters": cluster_ids}
        )
        return list(found.mappings())

    async def count_held(self, org_id: int, holders: list[str]) -> Sequence[Mapping[str, Any]]:
        found = await self._connection.execute(statements.HELD, {"org": org_id, "holders": holders})
        return list(found.mappings())

    async def write(self, org_id: int, accepted: Sequence[Accepted]) -> list[int]:
        connection = self._connection
        sandbox_ids = []
        for made in accepted:
            new = made.new
            sandbox_id = await connection.scalar(statements.INSERT_SANDBOX, _row(org_id, made))
            assert sandbox_id is not None
            sandbox_ids.append(sandbox_id)
            if new.labels:
                await connection.execute(
                    statements.INSERT_LABEL,
                    [
                        {"sandbox_id": sandbox_id, "key": k, "value": v}
                        for k, v in new.labels.items()
                    ],
                )
            await connection.execute(
                statements.INSERT_USAGE,
                {
                    "org_id": org_id,
                    "team_name": new.team_name,
                    "sandbox_name": new.name,
                    "sandbox_id": sandbox_id,
                    "started_at": new.at,
                },
            )
            await connection.execute(
                statements.INSERT_AUDIT,
                {
                    "org_id": org_id,
                    "at": new.at,
                    "actor": new.actor,
                    "action": "sandbox.create",
                    "target": f"sandbox/{new.name}",
                    "details": dict(new.audit_details),
                },
            )
        await connection.execute(
            statements.ADD_TO_ORGANIZATION, {"org": org_id, "taken": len(accepted)}
        )
        per_team: dict[int, int] = {}
        last_revision: dict[int, int] = {}
        for made in accepted:
            per_team[made.new.team_id] = per_team.get(made.new.team_id, 0) + 1
            last_revision[made.new.cluster_id] = made.revision
        for team_id, taken in per_team.items():
            await connection.execute(statements.ADD_TO_TEAM, {"team": team_id, "taken": taken})
        for cluster_id, last in last_revision.items():
            await connection.execute(
                statements.SET_CLUSTER_REVISION, {"cluster": cluster_id, "last": last}
            )
        return sandbox_ids


def _row(org_id: int, made: Accepted) -> dict[str, Any]:
    """The sandbox row of an accepted create (INSERT_SANDBOX)."""
    new = made.new
    return {
        "org_id": org_id,
        "team_id": new.team_id,
        "cluster_id": new.cluster_id,
        "name": new.name,
        "spec": new.spec,
        "generation": 1,
        "routing_key": new.routing_key,
        "phase": Phase.PENDING.value,
        "revision": made.revision,
        "created_by": new.actor,
        "created_at": new.at,
        "updated_at": new.at,
        "expires_at": new.expires_at,
    }
