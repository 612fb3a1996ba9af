"""Clusters of the caller's organisation, their agent tokens, and agent authentication."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import secrets
from sandboxmesh.controlplane.repository.records import AgentIdentity, Cluster, ClusterToken
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store import revision_channel
from sandboxmesh.controlplane.store.tables import cluster_tokens, clusters, sandboxes


def cluster_from(row: sa.RowMapping) -> Cluster:
    return Cluster(
        id=row["id"],
        name=row["name"],
        revision=row["revision"],
        last_seen_at=row["last_seen_at"],
        agent_version=row["agent_version"],
        created_at=row["created_at"],
    )


def _next_revision(cluster_id: int) -> sa.Update:
    # The UPDATE holds the cluster's row lock until commit, so revisions commit in order.
    return (
        clusters.update()
        .where(clusters.c.id == cluster_id)
        .values(revision=clusters.c.revision + 1)
    )


def _notified() -> sa.Label[Any]:
    return revision_channel.notify(clusters.c.id, clusters.c.revision).label("notified")


async def bump_cluster_revision(tx: Tx, cluster_id: int) -> int:
    """The cluster's next revision, for a change that is no sandbox's (a trace request): it
    wakes the cluster's long-polls after commit, in process and (NOTIFY) across processes."""
    returning = (clusters.c.revision, _notified()) if tx.is_postgres else (clusters.c.revision,)
    revision = await tx.conn.scalar(_next_revision(cluster_id).returning(*returning))
    assert revision is not None
    tx.changed(cluster_id, int(revision))
    return int(revision)


async def bump_revision(tx: Tx, *, cluster_id: int, sandbox_id: int) -> int:
    """Give the cluster its next assignment revision and stamp it on the changed sandbox.

    The UPDATE holds the cluster's row lock until commit, so revisions commit in order: once
    an agent sees revision R, every change up to R is visible to it. On PostgreSQL one round
    trip does it all, NOTIFY included (delivered to the other processes at commit).
    """
    if not tx.is_postgres:
        revision = await bump_cluster_revision(tx, cluster_id)
        await tx.conn.execute(
            sandboxes.update().where(sandboxes.c.id == sandbox_id).values(revision=revision)
        )
        return revision
    bumped = _next_revision(cluster_id).returning(clusters.c.revision, _notified()).cte("bumped")
    stamped = await tx.conn.scalar(
        sandboxes.update()
        .where(sandboxes.c.id == sandbox_id)
        .values(revision=sa.select(bumped.c.revision).scalar_subquery())
        .returning(sandboxes.c.revision)
    )
    assert stamped is not None
    tx.changed(cluster_id, int(stamped))
    return int(stamped)


async def authenticate_agent(
    tx: Tx, token: str, *, agent_version: str | None
) -> AgentIdentity | None:
    """The cluster a live cluster token opens, recording when and with what agent it called."""
    if secrets.token_kind(token) is not secrets.TokenKind.CLUSTER:
        return None
    row = (
        await tx.conn.execute(
            sa.select(
                cluster_tokens.c.id,
                cluster_tokens.c.expires_at,
                cluster_tokens.c.revoked_at,
                clusters.c.id.label("cluster_id"),
                clusters.c.name,
                clusters.c.org_id,
            )
            .join(clusters, clusters.c.id == cluster_tokens.c.cluster_id)
            .where(cluster_tokens.c.token_hash == secrets.digest(token))
        )
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= tx.now:
        return None
    await tx.conn.execute(
        clusters.update()
        .where(clusters.c.id == row.cluster_id)
        .values(last_seen_at=tx.now, agent_version=agent_version)
    )
    return AgentIdentity(
        cluster_id=row.cluster_id, cluster_name=row.name, org_id=row.org_id, token_id=row.id
    )


async def token_is_live(tx: Tx, token_id: int) -> bool:
    """Whether cluster token `token_id` still opens the agent API: neither revoked nor
    expired (by a rotation's grace) as of `tx.now`. Records nothing."""
    row = (
        await tx.conn.execute(
            sa.select(cluster_tokens.c.expires_at, cluster_tokens.c.revoked_at).where(
                cluster_tokens.c.id == token_id
            )
        )
    ).first()
    if row is None or row.revoked_at is not None:
        return False
    return row.expires_at is None or row.expires_at > tx.now


class Clusters(Scoped):
    def _select(self) -> sa.Select[Any]:
        return sa.select(clusters).where(clusters.c.org_id == self.org_id)

    async def all(self) -> list[Cluster]:
        rows = await self.tx.conn.execute(self._select().order_by(clusters.c.name))
        return [cluster_from(row._mapping) for row in rows]

    async def find(self, name: str) -> Cluster | None:
        row = (await self.tx.conn.execute(self._select().where(clusters.c.name == name))).first()
        return None if row is None else cluster_from(row._mapping)

    async def get(self, name: str) -> Cluster:
        cluster = await self.find(name)
        if cluster is None:
            raise errors.NotFound("cluster", name)
        return cluster

    async def register(self, name: str) -> tuple[Cluster, secrets.IssuedToken]:
        if await self.find(name) is not None:
            raise errors.Conflict(f"cluster {name!r} already exists")
        cluster_id = await self.tx.conn.scalar(
            clusters.insert()
            # Revisions start at 1: a resync always hands the agent a non-zero revision, and
            # 0 stays reserved for "I know nothing, send everything".
            .values(org_id=self.org_id, name=name, revision=1, created_at=self.tx.now)
            .returning(clusters.c.id)
        )
        assert cluster_id is not None
        issued = await self._issue(cluster_id)
        await self._audit("cluster.register", f"cluster/{name}", {"token": issued.prefix})
        return await self.get(name), issued

    async def delete(self, name: str) -> None:
        cluster = await self.get(name)
        in_use = await self.tx.conn.scalar(
            sa.select(sa.func.count()).where(sandboxes.c.cluster_id == cluster.id)
        )
        if in_use:
            raise errors.Conflict(
                f"cluster {name!r} still has {in_use} sandboxes; delete them first",
                details={"sandboxes": in_use},
            )
        await self.tx.conn.execute(
            clusters.delete().where(clusters.c.org_id == self.org_id, clusters.c.id == cluster.id)
        )
        await self._audit("cluster.delete", f"cluster/{name}")

    async def tokens(self, name: str) -> list[ClusterToken]:
        cluster = await self.get(name)
        rows = await self.tx.conn.execute(
            sa.select(cluster_tokens)
            .where(cluster_tokens.c.cluster_id == cluster.id)
            .order_by(cluster_tokens.c.id)
        )
        return [
            ClusterToken(
                id=row.id,
                prefix=row.prefix,
                created_at=row.created_at,
                expires_at=row.expires_at,
                revoked_at=row.revoked_at,
            )
            for row in rows
        ]

    async def rotate(self, name: str, *, grace: timedelta) -> secrets.IssuedToken:
        """A new token; the current ones keep working for `grace`, then are refused."""
        cluster = await self.get(name)
        until = self.tx.now + grace
        live = sa.and_(
            cluster_tokens.c.cluster_id == cluster.id, cluster_tokens.c.revoked_at.is_(None)
        )
        await self.tx.conn.execute(
            cluster_tokens.update()
            .where(
                live,
                sa.or_(cluster_tokens.c.expires_at.is_(None), cluster_tokens.c.expires_at > until),
            )
            .values(expires_at=until)
        )
        issued = await self._issue(cluster.id)
        await self._audit(
            "cluster.token.rotate",
            f"cluster/{name}",
            {"token": issued.prefix, "previousValidUntil": until.isoformat()},
        )
        return issued

    async def revoke(self, name: str, *, prefix: str | None) -> list[ClusterToken]:
        """Revoke one token (by prefix) or all of the cluster's: refused from the next call."""
        cluster = await self.get(name)
        condition = sa.and_(
            cluster_tokens.c.cluster_id == cluster.id, cluster_tokens.c.revoked_at.is_(None)
        )
        if prefix is not None:
            if prefix not in {token.prefix for token in await self.tokens(name)}:
                raise errors.NotFound("cluster token", prefix)
            condition = sa.and_(condition, cluster_tokens.c.prefix == prefix)
        await self.tx.conn.execute(
            cluster_tokens.update().where(condition).values(revoked_at=self.tx.now)
        )
        await self._audit("cluster.token.revoke", f"cluster/{name}", {"token": prefix or "all"})
        return await self.tokens(name)

    async def _issue(self, cluster_id: int) -> secrets.IssuedToken:
        issued = secrets.issue_token(secrets.TokenKind.CLUSTER)
        await self.tx.conn.execute(
            cluster_tokens.insert().values(
                cluster_id=cluster_id,
                prefix=issued.prefix,
                token_hash=issued.digest,
                created_at=self.tx.now,
            )
        )
        return issued
