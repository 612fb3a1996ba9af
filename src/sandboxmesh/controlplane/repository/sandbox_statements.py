"""The statements of the sandbox hot path, built once at import and run with bound values.

Building a SQLAlchemy Core statement costs several times what executing a built one does
(coercions, operators, cache key), and a create used to build a dozen per request. A
statement built once keeps its memoised cache key, so executing it costs one compiled-cache
hit. Those every create runs on PostgreSQL are `Prepared` (store/prepared.py): they run on
the driver connection, without SQLAlchemy's execution. Every statement here filters by the
tenant it is given (`org`): callers pass their scope's organisation, never a value from the
request.

- `TARGET_*`: what a create or update of a sandbox needs to know, in one round trip: the
  team, the cluster and whether the name is taken, each inside the organisation.
- `HELD*`: the live sandboxes of a batch's holders per team, read after the lock when a
  lifetime policy limits what one member may hold.
- `LOCK_COUNTERS*`: the first statement of a batch of creates (sandbox_creates.py): the
  organisation's counter and the counters and revisions of the teams and clusters it names,
  locked until the commit. Nothing here decides a quota: `domain.quota.decide` does.
- `WRITE_BATCH_POSTGRES`: the decided creates of a batch on PostgreSQL, in one statement:
  both counters, the cluster revisions (with their NOTIFY), the sandboxes, their labels,
  usage records and audit events. SQLite (no data-modifying WITH) writes the same rows one
  statement after the other (`INSERT_*`, `ADD_*`, `SET_CLUSTER_REVISION`).

Bound parameters are named unlike any column (`org`, not `org_id`): SQLAlchemy adds every
parameter named after a column of an UPDATE's table to its SET clause, inside a WITH too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from sandboxmesh.controlplane.domain.lifetime_policy import LifetimePolicy
from sandboxmesh.controlplane.repository.records import Cluster, Team
from sandboxmesh.controlplane.store import revision_channel
from sandboxmesh.controlplane.store.prepared import Prepared
from sandboxmesh.controlplane.store.tables import (
    audit_events,
    clusters,
    organizations,
    sandbox_labels,
    sandboxes,
    teams,
    usage_records,
)


def _org() -> sa.BindParameter[int]:
    return sa.bindparam("org", type_=sa.Integer)


def _team() -> sa.BindParameter[int]:
    return sa.bindparam("team", type_=sa.Integer)


# --- the target of an apply -----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The team and cluster a manifest names (None: no such one), whether its name is taken,
    and the lifetime policies of the organisation and of the team (empty without a team)."""

    team: Team | None
    cluster: Cluster | None
    exists: bool
    org_policy: LifetimePolicy = field(default_factory=LifetimePolicy)
    team_policy: LifetimePolicy = field(default_factory=LifetimePolicy)


def policy_columns(table: sa.Table, prefix: str) -> list[sa.Label[Any]]:
    """The lifetime policy's columns of `table` (organizations or teams), labelled
    `<prefix>_default_ttl` ... (read back by `policy_from`)."""
    return [
        table.c.policy_default_ttl_seconds.label(f"{prefix}_default_ttl"),
        table.c.policy_max_ttl_seconds.label(f"{prefix}_max_ttl"),
        table.c.policy_default_idle_seconds.label(f"{prefix}_default_idle"),
        table.c.policy_max_sandboxes_per_member.label(f"{prefix}_max_per_member"),
    ]


def policy_from(row: Mapping[str, Any] | sa.RowMapping, prefix: str) -> LifetimePolicy:
    return LifetimePolicy(
        default_ttl=row[f"{prefix}_default_ttl"],
        max_ttl=row[f"{prefix}_max_ttl"],
        default_idle=row[f"{prefix}_default_idle"],
        max_sandboxes_per_member=row[f"{prefix}_max_per_member"],
    )


def _target(team_condition: sa.ColumnElement[bool]) -> sa.Select[Any]:
    # One row whatever matches: the teams and clusters are outer-joined to a constant row.
    one = sa.select(sa.literal(1).label("one")).subquery("one")
    taken = sa.exists().where(
        sandboxes.c.org_id == _org(), sandboxes.c.name == sa.bindparam("sandbox")
    )
    return sa.select(
        teams.c.id.label("team_id"),
        teams.c.name.label("team_name"),
        teams.c.max_sandboxes.label("team_max"),
        teams.c.active_sandboxes.label("team_active"),
        teams.c.created_at.label("team_created_at"),
        clusters.c.id.label("cluster_id"),
        clusters.c.name.label("cluster_name"),
        clusters.c.revision.label("cluster_revision"),
        clusters.c.last_seen_at.label("cluster_last_seen_at"),
        clusters.c.agent_version.label("cluster_agent_version"),
        clusters.c.created_at.label("cluster_created_at"),
        taken.label("taken"),
        *policy_columns(organizations, "org"),
        *policy_columns(teams, "team"),
    ).select_from(
        one.outerjoin(teams, sa.and_(teams.c.org_id == _org(), team_condition))
        .outerjoin(
            clusters,
            sa.and_(clusters.c.org_id == _org(), clusters.c.name == sa.bindparam("cluster_named")),
        )
        .outerjoin(organizations, organizations.c.id == _org())
    )


#: Parameters: org, team_named, cluster_named and sandbox (the sandbox's name).
TARGET_BY_TEAM_NAME = Prepared(_target(teams.c.name == sa.bindparam("team_named")))
#: Parameters: org, team (the id of the caller's default team), cluster_named, sandbox.
TARGET_BY_TEAM_ID = Prepared(_target(teams.c.id == _team()))


def target_from(row: Mapping[str, Any]) -> Target:
    team = (
        None
        if row["team_id"] is None
        else Team(
            id=row["team_id"],
            name=row["team_name"],
            max_sandboxes=row["team_max"],
            active_sandboxes=row["team_active"],
            created_at=row["team_created_at"],
        )
    )
    cluster = (
        None
        if row["cluster_id"] is None
        else Cluster(
            id=row["cluster_id"],
            name=row["cluster_name"],
            revision=row["cluster_revision"],
            last_seen_at=row["cluster_last_seen_at"],
            agent_version=row["cluster_agent_version"],
            created_at=row["cluster_created_at"],
        )
    )
    return Target(
        team=team,
        cluster=cluster,
        exists=bool(row["taken"]),
        org_policy=policy_from(row, "org"),
        team_policy=LifetimePolicy() if team is None else policy_from(row, "team"),
    )


# --- a batch of creates: the counters, locked ------------------------------------------------


def _lock_counters(
    among: Callable[[sa.ColumnElement[int], str], sa.ColumnElement[bool]],
) -> sa.Select[Any]:
    """One row per (team, cluster) of the organisation among those named, with its counters:
    none when no team or no cluster named exists.

    The organisation's row is locked before any other (a joined row's locks are taken in
    FROM order), as every writer that locks several of these rows does, so two of them never
    wait for each other. A locking read in READ COMMITTED waits for a concurrent writer and
    reads the row it committed: the counters are the newest. The lock is the one an update
    takes anyway (FOR NO KEY UPDATE), which leaves foreign-key checks of other writers
    unblocked. SQLite renders no lock: its write lock is held already.
    """
    return (
        sa.select(
            organizations.c.name.label("org_name"),
            organizations.c.plan.label("org_plan"),
            organizations.c.max_sandboxes.label("org_max"),
            organizations.c.active_sandboxes.label("org_active"),
            teams.c.id.label("team_id"),
            teams.c.name.label("team_name"),
            teams.c.max_sandboxes.label("team_max"),
            teams.c.active_sandboxes.label("team_active"),
            clusters.c.id.label("cluster_id"),
            clusters.c.revision.label("cluster_revision"),
        )
        .select_from(
            organizations.join(teams, teams.c.org_id == organizations.c.id).join(
                clusters, clusters.c.org_id == organizations.c.id
            )
        )
        .where(
            organizations.c.id == _org(),
            among(teams.c.id, "teams"),
            among(clusters.c.id, "clusters"),
        )
        .with_for_update(of=[organizations, teams, clusters], key_share=True)
    )


def _in_array(column: sa.ColumnElement[int], name: str) -> sa.ColumnElement[bool]:
    return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(sa.Integer)))


def _in_list(column: sa.ColumnElement[int], name: str) -> sa.ColumnElement[bool]:
    return column.in_(sa.bindparam(name, expanding=True))


#: Parameters: org, teams and clusters (lists of ids). On the driver connection.
LOCK_COUNTERS_POSTGRES = Prepared(_lock_counters(_in_array))
#: The same, through SQLAlchemy (SQLite).
LOCK_COUNTERS = _lock_counters(_in_list)


def _held(holders: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The live (not deleting) sandboxes of the organisation per holder (`created_by`) and
    team, for the holders named: what a lifetime policy's per-member limits count."""
    return (
        sa.select(
            sandboxes.c.created_by.label("holder"),
            sandboxes.c.team_id.label("team_id"),
            sa.func.count().label("held"),
        )
        .where(sandboxes.c.org_id == _org(), sandboxes.c.deleting.is_(False), holders)
        .group_by(sandboxes.c.created_by, sandboxes.c.team_id)
    )


#: Parameters: org, holders (a list of actors). On the driver connection.
HELD_POSTGRES = Prepared(
    _held(
        sandboxes.c.created_by
        == sa.any_(sa.bindparam("holders", type_=postgresql.ARRAY(sa.String)))
    )
)
#: The same, through SQLAlchemy (SQLite).
HELD = _held(sandboxes.c.created_by.in_(sa.bindparam("holders", expanding=True)))


# --- a batch of creates on SQLite: one statement after the other -----------------------------

#: Parameters: the sandbox's columns.
INSERT_SANDBOX = sandboxes.insert().returning(sandboxes.c.id)
#: Executed with one parameter set per label: sandbox_id, key, value.
INSERT_LABEL = sandbox_labels.insert()
#: Parameters: the usage record's columns.
INSERT_USAGE = usage_records.insert()
#: Parameters: the audit event's columns.
INSERT_AUDIT = audit_events.insert()
#: Parameters: org, taken.
ADD_TO_ORGANIZATION = (
    organizations.update()
    .where(organizations.c.id == _org())
    .values(active_sandboxes=organizations.c.active_sandboxes + sa.bindparam("taken"))
)
#: Parameters: team, taken.
ADD_TO_TEAM = (
    teams.update()
    .where(teams.c.id == _team())
    .values(active_sandboxes=teams.c.active_sandboxes + sa.bindparam("taken"))
)
#: Parameters: cluster, last (the revision the cluster reached).
SET_CLUSTER_REVISION = (
    clusters.update()
    .where(clusters.c.id == sa.bindparam("cluster"))
    .values(revision=sa.bindparam("last"))
)


# --- a batch of creates on PostgreSQL: one statement -----------------------------------------

#: The columns of one decided create in the batch statement's `items` (a JSON array of
#: objects): `ord` its place in the batch, the ids of its team and cluster, times as naive
#: UTC, the revision it takes.
ITEM_COLUMNS = (
    sa.column("ord", sa.Integer),
    sa.column("name", sa.String),
    sa.column("team", sa.Integer),
    sa.column("cluster", sa.Integer),
    sa.column("revision", sa.Integer),
    sa.column("spec", postgresql.JSONB),
    sa.column("routing", sa.String),
    sa.column("actor", sa.String),
    sa.column("at", sa.DateTime),
    sa.column("expiry", sa.DateTime),
    sa.column("team_label", sa.String),
    sa.column("labels", postgresql.JSONB),
    sa.column("audit_target", sa.String),
    sa.column("audit_details", postgresql.JSONB),
)


def _write_batch_postgres() -> sa.Select[Any]:
    """The accepted creates of a batch, all written in one statement, inside the batch's
    transaction (its counters locked by LOCK_COUNTERS_POSTGRES).

    Every row is written in `ord` order, so ids (the audit log's order) follow it. Each
    cluster's revision becomes the last its creates took, announced (NOTIFY) at the commit.

    Parameters: org, items (ITEM_COLUMNS; names distinct, at least one) and phase_value.
    One row per item, in `ord` order: ord and sandbox_id.
    """
    item = sa.select(
        sa.func.jsonb_to_recordset(sa.bindparam("items", type_=postgresql.JSONB))
        .table_valued(*ITEM_COLUMNS)
        .render_derived(name="given", with_types=True)
    ).cte("item")
    org_taken = (
        organizations.update()
        .where(organizations.c.id == _org())
        .values(
            active_sandboxes=organizations.c.active_sandboxes
            + sa.select(sa.func.count()).select_from(item).scalar_subquery()
        )
        .returning(organizations.c.id)
        .cte("org_taken")
    )
    per_team = (
        sa.select(item.c.team, sa.func.count().label("taken"))
        .group_by(item.c.team)
        .subquery("per_team")
    )
    team_taken = (
        teams.update()
        .where(teams.c.org_id == _org(), teams.c.id == per_team.c.team)
        .values(active_sandboxes=teams.c.active_sandboxes + per_team.c.taken)
        .returning(teams.c.id)
        .cte("team_taken")
    )
    per_cluster = (
        sa.select(item.c.cluster, sa.func.max(item.c.revision).label("last"))
        .group_by(item.c.cluster)
        .subquery("per_cluster")
    )
    bumped = (
        clusters.update()
        .where(clusters.c.org_id == _org(), clusters.c.id == per_cluster.c.cluster)
        .values(revision=per_cluster.c.last)
        .returning(
            clusters.c.id,
            revision_channel.notify(clusters.c.id, clusters.c.revision).label("notified"),
        )
        .cte("bumped")
    )
    created = (
        sandboxes.insert()
        .from_select(
            [
                "org_id",
                "team_id",
                "cluster_id",
                "name",
                "spec",
                "generation",
                "routing_key",
                "phase",
                "revision",
                "created_by",
                "created_at",
                "updated_at",
                "expires_at",
            ],
            sa.select(
                _org(),
                item.c.team,
                item.c.cluster,
                item.c.name,
                item.c.spec,
                sa.literal_column("1", sa.Integer),
                item.c.routing,
                sa.bindparam("phase_value", type_=sa.String),
                item.c.revision,
                item.c.actor,
                item.c.at,
                item.c.at,
                item.c.expiry,
            ).order_by(item.c.ord),
        )
        .returning(sandboxes.c.id, sandboxes.c.name)
        .cte("created")
    )
    # The rows written after the sandbox find their create by its name (distinct in a batch).
    made = created.join(item, item.c.name == created.c.name)
    labels = sa.func.jsonb_each_text(item.c.labels).table_valued("key", "value").lateral("label")
    labelled = (
        sandbox_labels.insert()
        .from_select(
            ["sandbox_id", "key", "value"],
            sa.select(created.c.id, labels.c.key, labels.c.value)
            .select_from(made.join(labels, sa.true()))
            .order_by(item.c.ord),
        )
        .cte("labelled")
    )
    metered = (
        usage_records.insert()
        .from_select(
            ["org_id", "team_name", "sandbox_name", "sandbox_id", "started_at"],
            sa.select(_org(), item.c.team_label, item.c.name, created.c.id, item.c.at)
            .select_from(made)
            .order_by(item.c.ord),
        )
        .cte("metered")
    )
    audited = (
        audit_events.insert()
        .from_select(
            ["org_id", "at", "actor", "action", "target", "details"],
            sa.select(
                _org(),
                item.c.at,
                item.c.actor,
                sa.literal_column("'sandbox.create'", sa.String),
                item.c.audit_target,
                item.c.audit_details,
            )
            .select_from(made)
            .order_by(item.c.ord),
        )
        .cte("audited")
    )
    return (
        sa.select(item.c.ord, created.c.id.label("sandbox_id"))
        .select_from(made)
        .order_by(item.c.ord)
        .add_cte(org_taken, team_taken, bumped, labelled, metered, audited)
    )


WRITE_BATCH_POSTGRES = Prepared(_write_batch_postgres())
