"""Sandboxes (intent) of the caller's organisation: apply, list, get, delete, expire.

Row locks are always taken in one order so PostgreSQL never deadlocks: the sandbox row,
then the organisation's counter, then the team's, then the cluster's revision. A batch of
creates (sandbox_creates.py) locks the organisation's row first, then the rows of its teams
and clusters as its join meets them; every other writer that locks a team or cluster row
together with another of these rows has taken the organisation's first, and the writers that
take the organisation's row lock no team or cluster row before it, so none waits in a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import expiry, quota
from sandboxmesh.controlplane.domain import secrets as issued_secrets
from sandboxmesh.controlplane.repository import audit, sandbox_creates
from sandboxmesh.controlplane.repository import sandbox_statements as statements
from sandboxmesh.controlplane.repository.clusters import bump_revision
from sandboxmesh.controlplane.repository.create_queue import CreateQueue
from sandboxmesh.controlplane.repository.records import Cluster, Sandbox, StoredSandbox, Team
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import (
    clusters,
    organizations,
    sandbox_labels,
    sandboxes,
    teams,
    usage_records,
)
from sandboxmesh.spec import Phase, SandboxManifest, SandboxSpec

MAX_PAGE = 500


def select_sandboxes() -> sa.Select[Any]:
    return (
        sa.select(sandboxes, teams.c.name.label("team_name"), clusters.c.name.label("cluster_name"))
        .join(teams, teams.c.id == sandboxes.c.team_id)
        .join(clusters, clusters.c.id == sandboxes.c.cluster_id)
    )


# Built once (see sandbox_statements): parameters org and sandbox (the name).
_FIND = select_sandboxes().where(
    sandboxes.c.org_id == sa.bindparam("org"), sandboxes.c.name == sa.bindparam("sandbox")
)
_FIND_FOR_UPDATE = _FIND.with_for_update(of=sandboxes)


def sandbox_from(row: sa.RowMapping) -> StoredSandbox:
    return StoredSandbox(
        id=row["id"],
        name=row["name"],
        team=row["team_name"],
        cluster=row["cluster_name"],
        spec=row["spec"],
        generation=row["generation"],
        routing_key=row["routing_key"],
        status=row["status"],
        observed_generation=row["observed_generation"],
        phase=row["phase"],
        deleting=row["deleting"],
        deletion_requested_at=row["deletion_requested_at"],
        revision=row["revision"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
    )


async def mark_deleting(
    tx: Tx, sandbox: StoredSandbox, *, org_id: int, actor: str, why: str
) -> bool:
    """Flag `sandbox` for deletion (once): frees its quota, stops metering, tells the agent."""
    marked = await tx.conn.execute(
        sandboxes.update()
        .where(sandboxes.c.id == sandbox.id, sandboxes.c.deleting.is_(False))
        .values(deleting=True, deletion_requested_at=tx.now, phase=Phase.TERMINATING.value)
    )
    if marked.rowcount != 1:
        return False
    team_id, cluster_id = (
        await tx.conn.execute(
            sa.select(sandboxes.c.team_id, sandboxes.c.cluster_id).where(
                sandboxes.c.id == sandbox.id
            )
        )
    ).one()
    await tx.conn.execute(
        usage_records.update()
        .where(usage_records.c.sandbox_id == sandbox.id, usage_records.c.ended_at.is_(None))
        .values(ended_at=tx.now)
    )
    await audit.record(
        tx,
        org_id=org_id,
        actor=actor,
        action="sandbox.delete",
        target=f"sandbox/{sandbox.name}",
        details={"reason": why, "generation": sandbox.generation},
    )
    # Counters and revision last: their row locks are held only until the commit.
    await tx.conn.execute(
        organizations.update()
        .where(organizations.c.id == org_id)
        .values(active_sandboxes=organizations.c.active_sandboxes - 1)
    )
    await tx.conn.execute(
        teams.update()
        .where(teams.c.id == team_id)
        .values(active_sandboxes=teams.c.active_sandboxes - 1)
    )
    await bump_revision(tx, cluster_id=cluster_id, sandbox_id=sandbox.id)
    return True


class Sandboxes(Scoped):
    def __init__(
        self, tx: Tx, org_id: int, actor: str, *, creates: CreateQueue | None = None
    ) -> None:
        super().__init__(tx, org_id, actor)
        #: The process's queue of creates (PostgreSQL; None: each create runs alone).
        self.creates = creates
        self._held: list[sandbox_creates.NewSandbox] = []

    async def search(
        self,
        *,
        team: str | None = None,
        cluster: str | None = None,
        labels: Mapping[str, str] | None = None,
        phase: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[StoredSandbox]:
        query = select_sandboxes().where(sandboxes.c.org_id == self.org_id)
        if team is not None:
            query = query.where(teams.c.name == team)
        if cluster is not None:
            query = query.where(clusters.c.name == cluster)
        if phase is not None:
            query = query.where(sandboxes.c.phase == phase)
        for key, value in (labels or {}).items():
            query = query.where(
                sa.exists().where(
                    sandbox_labels.c.sandbox_id == sandboxes.c.id,
                    sandbox_labels.c.key == key,
                    sandbox_labels.c.value == value,
                )
            )
        if after is not None:
            query = query.where(sandboxes.c.name > after)
        query = query.order_by(sandboxes.c.name).limit(min(limit, MAX_PAGE))
        return [sandbox_from(row) for row in (await self.tx.conn.execute(query)).mappings()]

    async def find(self, name: str, *, for_update: bool = False) -> StoredSandbox | None:
        query = _FIND_FOR_UPDATE if for_update else _FIND
        found = await self.tx.conn.execute(query, {"org": self.org_id, "sandbox": name})
        row = found.mappings().first()
        return None if row is None else sandbox_from(row)

    async def find_by_routing_key(self, key: str) -> StoredSandbox | None:
        """The organisation's sandbox with routing key `key` (keys are unique across the
        installation), or None: another organisation's sandbox is not found either."""
        query = select_sandboxes().where(
            sandboxes.c.org_id == self.org_id, sandboxes.c.routing_key == key
        )
        row = (await self.tx.conn.execute(query)).mappings().first()
        return None if row is None else sandbox_from(row)

    async def target(
        self, name: str, *, team: str | None, default_team_id: int | None, cluster: str
    ) -> statements.Target:
        """What applying `name` needs, in one round trip: the team named (or the default team
        when `team` is None), the cluster named, and whether the name is taken."""
        by_team: dict[str, str | int | None]
        if team is not None:
            query, by_team = statements.TARGET_BY_TEAM_NAME, {"team_named": team}
        else:
            query, by_team = statements.TARGET_BY_TEAM_ID, {"team": default_team_id}
        row = await self.tx.fetch_one(
            query, {"org": self.org_id, "sandbox": name, "cluster_named": cluster, **by_team}
        )
        assert row is not None  # one row whatever matches (see the statement)
        return statements.target_from(row)

    async def get(self, name: str) -> StoredSandbox:
        sandbox = await self.find(name)
        if sandbox is None:
            raise errors.NotFound("sandbox", name)
        return sandbox

    async def apply(
        self,
        manifest: SandboxManifest,
        *,
        team: Team,
        cluster: Cluster,
        exists: bool | None = None,
        member_limits: tuple[int | None, int | None] = (None, None),
    ) -> tuple[Sandbox, bool]:
        """Create the sandbox, or update its spec; returns it and whether it was created.

        `exists` False (from `target`) skips looking for the sandbox: a create racing
        another of the same name then fails on the unique name, as it would anyway.
        `member_limits`: the lifetime policy's per-member limits (the organisation's, the
        team's) a create is decided under, with the quotas (domain/quota.py).

        A create is held for the commit of the unit of work (repository/transaction.py),
        after everything else it did, and the sandbox returned has no id or revision yet;
        what refuses it (a quota, its team or cluster gone, its name taken meanwhile) is
        raised when the unit of work ends. It is then written as a batch (sandbox_creates.py):
        in the unit of work's transaction when it wrote anything else (always on SQLite); on
        PostgreSQL, when the create is its only write, in the organisation's next batch
        through the create queue, with other requests' creates.
        """
        spec = manifest.spec.model_copy(update={"team": team.name})
        document = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        existing = None if exists is False else await self.find(manifest.name, for_update=True)
        if existing is None:
            created = await self._create(
                manifest.name,
                spec=spec,
                document=document,
                team=team,
                cluster=cluster,
                member_limits=member_limits,
            )
            return created, True
        if existing.deleting:
            raise errors.Conflict(
                f"sandbox {manifest.name!r} is being deleted; apply again once it is gone"
            )
        if existing.cluster != cluster.name:
            raise errors.Invalid.field(
                ["body", "spec", "cluster"],
                f"a sandbox cannot move from cluster {existing.cluster!r}; delete and recreate it",
            )
        if existing.team != team.name:
            raise errors.Invalid.field(
                ["body", "spec", "team"],
                f"a sandbox cannot move from team {existing.team!r}; delete and recreate it",
            )
        if existing.spec == document:
            return existing, False
        await self._replace_labels(existing.id, spec.labels)
        await self._audit(
            "sandbox.update", f"sandbox/{manifest.name}", {"generation": existing.generation + 1}
        )
        await self.tx.conn.execute(
            sandboxes.update()
            .where(sandboxes.c.id == existing.id)
            .values(
                spec=document,
                generation=existing.generation + 1,
                updated_at=self.tx.now,
                expires_at=expiry.expires_at(
                    spec, created_at=existing.created_at, updated_at=self.tx.now
                ),
            )
        )
        # The cluster's revision last, so its row lock is held only until the commit.
        await bump_revision(self.tx, cluster_id=cluster.id, sandbox_id=existing.id)
        return await self.get(manifest.name), False

    async def _create(
        self,
        name: str,
        *,
        spec: SandboxSpec,
        document: dict[str, Any],
        team: Team,
        cluster: Cluster,
        member_limits: tuple[int | None, int | None],
    ) -> Sandbox:
        routing_key = issued_secrets.routing_key()
        expires_at = expiry.expires_at(spec, created_at=self.tx.now, updated_at=self.tx.now)
        audit_details = {"team": team.name, "cluster": cluster.name}
        # The sandbox as it is once written, but for its id and revision (the write's).
        created = Sandbox(
            name=name,
            team=team.name,
            cluster=cluster.name,
            spec=document,
            generation=1,
            routing_key=routing_key,
            status=None,
            observed_generation=None,
            phase=Phase.PENDING.value,
            deleting=False,
            deletion_requested_at=None,
            created_by=self.actor,
            created_at=self.tx.now,
            updated_at=self.tx.now,
            expires_at=expires_at,
        )
        new = sandbox_creates.NewSandbox(
            name=name,
            team_id=team.id,
            team_name=team.name,
            cluster_id=cluster.id,
            spec=document,
            routing_key=routing_key,
            actor=self.actor,
            at=self.tx.now,
            expires_at=expires_at,
            labels=dict(spec.labels),
            audit_details=audit_details,
            member_max_org=member_limits[0],
            member_max_team=member_limits[1],
        )
        if not self._held:
            self.tx.before_commit(self._write_held)
        self._held.append(new)
        return created

    async def _write_held(self) -> None:
        """The creates held for the commit, as one batch (see `apply`)."""
        held, self._held = self._held, []
        writer: sandbox_creates.Writer
        if self.tx.is_postgres:
            driver = await self.tx.driver_connection()
            if (
                len(held) == 1
                and self.creates is not None
                and self.creates.accepting
                and not driver.is_in_transaction()
                and not self.tx.holds_writes()
            ):
                # The unit of work's one write: it needs no transaction but its batch's.
                self._made(held, [await self.creates.create(self.org_id, held[0])])
                return
            await self.tx.begin()
            writer = sandbox_creates.OnPostgres(driver)
        else:
            writer = sandbox_creates.OnSqlAlchemy(self.tx.conn)
        self._made(held, await sandbox_creates.create_batch(writer, self.org_id, held))

    def _made(
        self,
        held: list[sandbox_creates.NewSandbox],
        outcomes: list[sandbox_creates.Outcome],
    ) -> None:
        """Record the revisions the creates took, or raise the first refusal."""
        for new, outcome in zip(held, outcomes, strict=True):
            if isinstance(outcome, quota.Refused):
                if outcome.limit is None:
                    raise errors.Conflict(f"the team or cluster of sandbox {new.name!r} is gone")
                if outcome.reason is quota.Refusal.MEMBER_FULL:
                    raise _member_limit(outcome.limit, new.actor)
                raise _quota_exceeded(outcome.limit)
            self.tx.changed(new.cluster_id, outcome.revision)

    async def _insert_labels(self, sandbox_id: int, labels: Mapping[str, str]) -> None:
        if labels:
            await self.tx.conn.execute(
                statements.INSERT_LABEL,
                [{"sandbox_id": sandbox_id, "key": k, "value": v} for k, v in labels.items()],
            )

    async def _replace_labels(self, sandbox_id: int, labels: Mapping[str, str]) -> None:
        await self.tx.conn.execute(
            sandbox_labels.delete().where(sandbox_labels.c.sandbox_id == sandbox_id)
        )
        await self._insert_labels(sandbox_id, labels)

    async def delete(self, name: str, *, why: str = "requested") -> StoredSandbox:
        """Mark the sandbox for deletion; it is gone once its agent confirms the removal.
        `why` goes to the audit log."""
        sandbox = await self.find(name, for_update=True)
        if sandbox is None:
            raise errors.NotFound("sandbox", name)
        await mark_deleting(self.tx, sandbox, org_id=self.org_id, actor=self.actor, why=why)
        return await self.get(name)


def _quota_exceeded(limit: quota.Limit) -> errors.QuotaExceeded:
    return errors.QuotaExceeded(
        f"quota exceeded: {limit.describe()}",
        details={"limit": limit.scope.value, "name": limit.name, "max": limit.max},
    )


def _member_limit(limit: quota.Limit, holder: str) -> errors.MemberSandboxLimit:
    who = holder.removeprefix("member:")
    return errors.MemberSandboxLimit(
        f"member sandbox limit: {who} holds {limit.max} sandboxes in the {limit.scope.value} "
        f"{limit.name!r}, the most its lifetime policy allows one member "
        f"(maxSandboxesPerMember {limit.max}); delete one first",
        details={
            "limit": "maxSandboxesPerMember",
            "scope": limit.scope.value,
            "name": limit.name,
            "max": limit.max,
            "member": who,
        },
    )


async def expire_due(tx: Tx, *, batch: int = 100) -> list[str]:
    """Mark every sandbox whose TTL has run out for deletion; returns their names."""
    rows = (
        (
            await tx.conn.execute(
                select_sandboxes()
                .where(sandboxes.c.deleting.is_(False), sandboxes.c.expires_at <= tx.now)
                .order_by(sandboxes.c.expires_at)
                .limit(batch)
                .with_for_update(of=sandboxes, skip_locked=True)
            )
        )
        .mappings()
        .all()
    )
    expired = []
    for row in rows:
        sandbox = sandbox_from(row)
        if await mark_deleting(
            tx, sandbox, org_id=row["org_id"], actor="system:ttl", why="ttl expired"
        ):
            expired.append(sandbox.name)
    return expired
