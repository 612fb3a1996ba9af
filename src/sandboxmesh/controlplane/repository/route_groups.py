"""Route groups (intent) of the caller's organisation, and their agent's side.

A deletion keeps the row as a tombstone (`deleting`, with the revision that deleted it) so
that an agent polling for changes since an earlier revision is told; once its cluster's
agent polls with `since` at or past that revision it has applied it, and the tombstone goes
(`purge_told`). A resync batch prunes what it does not list anyway.

Row locks: the group's row, then the cluster's revision (last, held until the commit), as
sandboxes.py orders its own.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain import expiry
from sandboxmesh.controlplane.domain import route_groups as rules
from sandboxmesh.controlplane.domain import secrets as issued_secrets
from sandboxmesh.controlplane.repository import audit
from sandboxmesh.controlplane.repository.clusters import bump_cluster_revision
from sandboxmesh.controlplane.repository.records import Cluster, RouteGroup, StoredSandbox
from sandboxmesh.controlplane.repository.sandboxes import Sandboxes
from sandboxmesh.controlplane.repository.scoped import Scoped
from sandboxmesh.controlplane.repository.transaction import Tx
from sandboxmesh.controlplane.store.tables import clusters, route_groups
from sandboxmesh.spec.routegroup import RouteGroupManifest

MAX_PAGE = 500
#: Members listed per group at most (the sandboxes its selector matches on its cluster).
MAX_MEMBERS = 500


def _select() -> sa.Select[Any]:
    return sa.select(route_groups, clusters.c.name.label("cluster_name")).join(
        clusters, clusters.c.id == route_groups.c.cluster_id
    )


def route_group_from(row: sa.RowMapping) -> RouteGroup:
    return RouteGroup(
        id=row["id"],
        name=row["name"],
        cluster=row["cluster_name"],
        cluster_id=row["cluster_id"],
        spec=row["spec"],
        generation=row["generation"],
        routing_key=row["routing_key"],
        deleting=row["deleting"],
        revision=row["revision"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
    )


async def _stamp(tx: Tx, group_id: int, cluster_id: int) -> int:
    """The cluster's next revision, stamped on the group (wakes the cluster's long-polls)."""
    revision = await bump_cluster_revision(tx, cluster_id)
    await tx.conn.execute(
        route_groups.update().where(route_groups.c.id == group_id).values(revision=revision)
    )
    return revision


async def mark_deleting(tx: Tx, group: RouteGroup, *, org_id: int, actor: str, why: str) -> bool:
    marked = await tx.conn.execute(
        route_groups.update()
        .where(route_groups.c.id == group.id, route_groups.c.deleting.is_(False))
        .values(deleting=True, updated_at=tx.now)
    )
    if marked.rowcount != 1:
        return False
    await audit.record(
        tx,
        org_id=org_id,
        actor=actor,
        action="routegroup.delete",
        target=f"routegroup/{group.name}",
        details={"reason": why, "generation": group.generation},
    )
    await _stamp(tx, group.id, group.cluster_id)
    return True


class RouteGroups(Scoped):
    async def search(
        self, *, cluster: str | None = None, after: str | None = None, limit: int = 100
    ) -> list[RouteGroup]:
        """The organisation's route groups (not the deleted), by name."""
        query = _select().where(
            route_groups.c.org_id == self.org_id, route_groups.c.deleting.is_(False)
        )
        if cluster is not None:
            query = query.where(clusters.c.name == cluster)
        if after is not None:
            query = query.where(route_groups.c.name > after)
        query = query.order_by(route_groups.c.name).limit(min(limit, MAX_PAGE))
        return [route_group_from(row) for row in (await self.tx.conn.execute(query)).mappings()]

    async def _find(self, name: str, *, for_update: bool = False) -> RouteGroup | None:
        """The live group `name` (tombstones are not found)."""
        query = _select().where(
            route_groups.c.org_id == self.org_id,
            route_groups.c.name == name,
            route_groups.c.deleting.is_(False),
        )
        if for_update:
            query = query.with_for_update(of=route_groups)
        row = (await self.tx.conn.execute(query)).mappings().first()
        return None if row is None else route_group_from(row)

    async def find_by_routing_key(self, key: str) -> RouteGroup | None:
        """The organisation's live group with routing key `key` (keys are unique across the
        installation), or None: another organisation's group is not found either."""
        query = _select().where(
            route_groups.c.org_id == self.org_id,
            route_groups.c.routing_key == key,
            route_groups.c.deleting.is_(False),
        )
        row = (await self.tx.conn.execute(query)).mappings().first()
        return None if row is None else route_group_from(row)

    async def get(self, name: str) -> RouteGroup:
        group = await self._find(name)
        if group is None:
            raise errors.NotFound("route group", name)
        return group

    async def apply(
        self, manifest: RouteGroupManifest, cluster: Cluster
    ) -> tuple[RouteGroup, bool]:
        """Create the group, or update its spec; returns it and whether it was created.
        Refuses (409) moving a group to another cluster, and a create past the
        organisation's limit (409 quota_exceeded)."""
        spec = manifest.spec
        document = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        # A deleted group's tombstone stays beside a new group of its name, so that its agent
        # (of another cluster, perhaps) is still told to remove it.
        existing = await self._find(manifest.name, for_update=True)
        if existing is not None:
            if existing.cluster_id != cluster.id:
                raise errors.Conflict(
                    f"route group {manifest.name!r} is on cluster {existing.cluster!r}; "
                    "delete and recreate it to move it",
                    details={"cluster": existing.cluster},
                )
            if existing.spec == document:
                return existing, False
            await self.tx.conn.execute(
                route_groups.update()
                .where(route_groups.c.id == existing.id)
                .values(
                    spec=document,
                    generation=existing.generation + 1,
                    updated_at=self.tx.now,
                    expires_at=expiry.expires_at(
                        spec, created_at=existing.created_at, updated_at=self.tx.now
                    ),
                )
            )
            await self._audit(
                "routegroup.update",
                f"routegroup/{manifest.name}",
                {"generation": existing.generation + 1},
            )
            await _stamp(self.tx, existing.id, cluster.id)
            return await self.get(manifest.name), False
        live = await self.tx.conn.scalar(
            sa.select(sa.func.count()).where(
                route_groups.c.org_id == self.org_id, route_groups.c.deleting.is_(False)
            )
        )
        if (live or 0) >= rules.MAX_ROUTE_GROUPS_PER_ORG:
            raise errors.QuotaExceeded(
                f"quota exceeded: the organisation has {live} route groups "
                f"(at most {rules.MAX_ROUTE_GROUPS_PER_ORG}); delete one first",
                details={
                    "limit": "route_groups",
                    "name": "organization",
                    "max": rules.MAX_ROUTE_GROUPS_PER_ORG,
                },
            )
        try:
            inserted = await self._insert(manifest, document, cluster)
        except sa.exc.IntegrityError as error:
            # Another request created the name meanwhile (the live names' unique index).
            raise errors.Conflict(
                f"route group {manifest.name!r} was just created by another request: "
                "apply again to update it"
            ) from error
        await self._audit(
            "routegroup.create", f"routegroup/{manifest.name}", {"cluster": cluster.name}
        )
        await _stamp(self.tx, inserted, cluster.id)
        return await self.get(manifest.name), True

    async def _insert(
        self, manifest: RouteGroupManifest, document: dict[str, Any], cluster: Cluster
    ) -> int:
        spec = manifest.spec
        inserted = await self.tx.conn.scalar(
            route_groups.insert()
            .values(
                org_id=self.org_id,
                cluster_id=cluster.id,
                name=manifest.name,
                spec=document,
                generation=1,
                routing_key=issued_secrets.routing_key(),
                deleting=False,
                revision=0,
                created_by=self.actor,
                created_at=self.tx.now,
                updated_at=self.tx.now,
                expires_at=expiry.expires_at(spec, created_at=self.tx.now, updated_at=self.tx.now),
            )
            .returning(route_groups.c.id)
        )
        assert inserted is not None
        return int(inserted)

    async def delete(self, name: str) -> RouteGroup:
        """Delete the group: its agent is told to remove its RouteGroup object."""
        group = await self._find(name, for_update=True)
        if group is None:
            raise errors.NotFound("route group", name)
        await mark_deleting(self.tx, group, org_id=self.org_id, actor=self.actor, why="requested")
        return group

    async def members(self, group: RouteGroup) -> list[StoredSandbox]:
        """The sandboxes of the group's cluster, not being deleted, whose labels its selector
        matches (at most MAX_MEMBERS, by name)."""
        labels = group.spec.get("selector", {}).get("matchLabels", {})
        found = await Sandboxes(self.tx, self.org_id, self.actor).search(
            cluster=group.cluster, labels=labels, limit=MAX_MEMBERS
        )
        return [s for s in found if not s.deleting]


async def changed_on_cluster(tx: Tx, cluster_id: int, *, since: int | None) -> list[RouteGroup]:
    """The cluster's groups changed after revision `since` (tombstones included), oldest
    change first; every one of them when `since` is None (a resync)."""
    query = _select().where(route_groups.c.cluster_id == cluster_id)
    if since is not None:
        query = query.where(route_groups.c.revision > since)
    rows = (await tx.conn.execute(query.order_by(route_groups.c.revision))).mappings()
    return [route_group_from(row) for row in rows]


async def purge_told(tx: Tx, cluster_id: int, *, since: int) -> None:
    """Forget the cluster's tombstones deleted at or before `since`: an agent that polls
    from `since` has applied them."""
    await tx.conn.execute(
        route_groups.delete().where(
            route_groups.c.cluster_id == cluster_id,
            route_groups.c.deleting.is_(True),
            route_groups.c.revision <= since,
        )
    )


async def expire_due(tx: Tx, *, batch: int = 100) -> list[str]:
    """Delete every route group whose TTL has run out; returns their names."""
    rows = (
        (
            await tx.conn.execute(
                _select()
                .where(route_groups.c.deleting.is_(False), route_groups.c.expires_at <= tx.now)
                .order_by(route_groups.c.expires_at)
                .limit(batch)
                .with_for_update(of=route_groups, skip_locked=True)
            )
        )
        .mappings()
        .all()
    )
    expired = []
    for row in rows:
        group = route_group_from(row)
        if await mark_deleting(
            tx, group, org_id=row["org_id"], actor="system:ttl", why="ttl expired"
        ):
            expired.append(group.name)
    return expired
