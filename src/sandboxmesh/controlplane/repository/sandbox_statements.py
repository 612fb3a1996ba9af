"""The statements of the sandbox hot path, built once at import and run with bound values.

Building a SQLAlchemy Core statement costs several times what executing a built one does
(coercions, operators, cache key), and a create used to build a dozen per request. A
statement built once keeps its memoised cache key, so executing it costs one compiled-cache
hit. Those every create runs (`TARGET_*`, `CREATE_POSTGRES`) are `Prepared`
(store/prepared.py): on PostgreSQL they run on the driver connection, without SQLAlchemy's
execution. Every statement here filters by the tenant it is given (`org_id`): callers pass
their scope's organisation, never a value from the request.

- `target(...)`: what a create or update of a sandbox needs to know, in one round trip: the
  team, the cluster and whether the name is taken, each inside the organisation.
- `CREATE_POSTGRES`: the whole create on PostgreSQL in one statement, complete or not at
  all: both quota counters, the cluster revision (with its NOTIFY), the sandbox, its labels,
  its usage record and its audit event.
- The SQLite statements of the same create, run one after the other under SQLite's write
  lock (SQLite has no data-modifying WITH).

Bound parameters are named unlike any column (`org`, not `org_id`): SQLAlchemy adds every
parameter named after a column of an UPDATE's table to its SET clause, inside a WITH too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from sandboxmesh.controlplane.domain import plans
from sandboxmesh.controlplane.repository.records import Cluster, Team
from sandboxmesh.controlplane.repository.transaction import NOTIFY_CHANNEL
from sandboxmesh.controlplane.store.prepared import Prepared
from sandboxmesh.controlplane.store.tables import (
    UtcDateTime,
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


def _cluster() -> sa.BindParameter[int]:
    return sa.bindparam("cluster", type_=sa.Integer)


# --- the target of an apply -----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The team and cluster a manifest names (None: no such one) and whether its name is taken."""

    team: Team | None
    cluster: Cluster | None
    exists: bool


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
    ).select_from(
        one.outerjoin(teams, sa.and_(teams.c.org_id == _org(), team_condition)).outerjoin(
            clusters,
            sa.and_(clusters.c.org_id == _org(), clusters.c.name == sa.bindparam("cluster_named")),
        )
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
    return Target(team=team, cluster=cluster, exists=bool(row["taken"]))


# --- quota counters ---------------------------------------------------------------------------

# Each counter moves only by a conditional UPDATE whose WHERE re-checks the limit under the
# row's write lock: concurrent creates cannot both take the last place.
_PLAN_LIMIT = sa.case(
    {plan.value: limit for plan, limit in plans.DEFAULT_ORG_LIMIT.items()},
    value=organizations.c.plan,
)
_ORG_ROOM = organizations.c.active_sandboxes < sa.func.coalesce(
    organizations.c.max_sandboxes, _PLAN_LIMIT
)
_TEAM_ROOM = sa.or_(
    teams.c.max_sandboxes.is_(None), teams.c.active_sandboxes < teams.c.max_sandboxes
)
_ORG_HAS_ROOM = sa.and_(organizations.c.id == _org(), _ORG_ROOM)
_TEAM_HAS_ROOM = sa.and_(teams.c.id == _team(), _TEAM_ROOM)

#: Parameters: org. One row updated, or the organisation is at its limit.
TAKE_ORGANIZATION_PLACE = (
    organizations.update()
    .where(_ORG_HAS_ROOM)
    .values(active_sandboxes=organizations.c.active_sandboxes + 1)
)
#: Parameters: team. One row updated, or the team is at its limit.
TAKE_TEAM_PLACE = (
    teams.update().where(_TEAM_HAS_ROOM).values(active_sandboxes=teams.c.active_sandboxes + 1)
)
#: Parameters: org. For the message of a refusal.
ORGANIZATION = sa.select(organizations).where(organizations.c.id == _org())
#: Parameters: team.
TEAM_LIMIT = sa.select(teams.c.max_sandboxes).where(teams.c.id == _team())


# --- the create, on SQLite: one statement after the other -------------------------------------

#: Parameters: the sandbox's columns (revision 0 until the cluster's revision is taken).
INSERT_SANDBOX = sandboxes.insert().returning(sandboxes.c.id)
#: Executed with one parameter set per label: sandbox_id, key, value.
INSERT_LABEL = sandbox_labels.insert()
#: Parameters: the usage record's columns.
INSERT_USAGE = usage_records.insert()


# --- the create, on PostgreSQL: one statement ---------------------------------------------------


def _create_postgres() -> sa.Select[Any]:
    """The create in one statement, complete or not at all, so it needs no transaction around
    it: a refused quota writes nothing.

    The organisation's, the team's and the cluster's rows are locked first, in the documented
    lock order, and the room in both counters read from their newest versions (a locking
    read in READ COMMITTED waits for a concurrent create and re-reads the row it committed).
    The counters, the revision and the rows are written only when all three rows exist and
    both counters have room, decided once from those locked values. The lock is the one the
    updates take anyway (FOR NO KEY UPDATE), which leaves foreign-key checks of other
    writers unblocked.

    Parameters: org, team, cluster (ids), sandbox (the name), document (the spec),
    routing, phase_value, actor, now, expiry, team_label (the team's name), labels (a JSON
    object), audit_target and audit_details. Columns: org_room and team_room (None: the
    team or the cluster is gone), sandbox_id and revision (None: not created).
    """
    now = sa.bindparam("now", type_=UtcDateTime)
    room = (
        sa.select(_ORG_ROOM.label("org_room"), _TEAM_ROOM.label("team_room"))
        .select_from(
            organizations.join(teams, teams.c.org_id == organizations.c.id).join(
                clusters, clusters.c.org_id == organizations.c.id
            )
        )
        .where(organizations.c.id == _org(), teams.c.id == _team(), clusters.c.id == _cluster())
        .with_for_update(of=[organizations, teams, clusters], key_share=True)
        .cte("room")
    )
    org_taken = (
        organizations.update()
        .where(
            organizations.c.id == _org(),
            sa.exists(sa.select(room.c.org_room).where(room.c.org_room, room.c.team_room)),
        )
        .values(active_sandboxes=organizations.c.active_sandboxes + 1)
        .returning(organizations.c.id)
        .cte("org_taken")
    )
    team_taken = (
        teams.update()
        .where(teams.c.id == _team(), sa.exists(sa.select(org_taken.c.id)))
        .values(active_sandboxes=teams.c.active_sandboxes + 1)
        .returning(teams.c.id)
        .cte("team_taken")
    )
    # The revision's row lock is held until the commit, so revisions commit in order; the
    # NOTIFY is delivered to the other processes at the commit too.
    bumped = (
        clusters.update()
        .where(
            clusters.c.id == _cluster(),
            sa.exists(sa.select(team_taken.c.id)),
        )
        .values(revision=clusters.c.revision + 1)
        .returning(
            clusters.c.revision,
            sa.func.pg_notify(
                NOTIFY_CHANNEL,
                sa.cast(clusters.c.id, sa.String) + ":" + sa.cast(clusters.c.revision, sa.String),
            ).label("notified"),
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
                _team(),
                _cluster(),
                sa.bindparam("sandbox", type_=sa.String),
                sa.bindparam("document", type_=postgresql.JSONB),
                sa.literal_column("1", sa.Integer),
                sa.bindparam("routing", type_=sa.String),
                sa.bindparam("phase_value", type_=sa.String),
                bumped.c.revision,
                sa.bindparam("actor", type_=sa.String),
                now,
                now,
                sa.bindparam("expiry", type_=UtcDateTime),
            ).select_from(bumped),
        )
        .returning(sandboxes.c.id, sandboxes.c.revision)
        .cte("created")
    )
    labels = sa.func.jsonb_each_text(sa.bindparam("labels", type_=postgresql.JSONB)).table_valued(
        "key", "value"
    )
    labelled = (
        sandbox_labels.insert()
        .from_select(
            ["sandbox_id", "key", "value"],
            sa.select(created.c.id, labels.c.key, labels.c.value).select_from(
                created.join(labels, sa.true())
            ),
        )
        .cte("labelled")
    )
    metered = (
        usage_records.insert()
        .from_select(
            ["org_id", "team_name", "sandbox_name", "sandbox_id", "started_at"],
            sa.select(
                _org(),
                sa.bindparam("team_label", type_=sa.String),
                sa.bindparam("sandbox", type_=sa.String),
                created.c.id,
                now,
            ).select_from(created),
        )
        .cte("metered")
    )
    audited = (
        audit_events.insert()
        .from_select(
            ["org_id", "at", "actor", "action", "target", "details"],
            sa.select(
                _org(),
                now,
                sa.bindparam("actor", type_=sa.String),
                sa.literal_column("'sandbox.create'", sa.String),
                sa.bindparam("audit_target", type_=sa.String),
                sa.bindparam("audit_details", type_=postgresql.JSONB),
            ).select_from(created),
        )
        .cte("audited")
    )
    return sa.select(
        sa.select(room.c.org_room).scalar_subquery().label("org_room"),
        sa.select(room.c.team_room).scalar_subquery().label("team_room"),
        sa.select(created.c.id).scalar_subquery().label("sandbox_id"),
        sa.select(created.c.revision).scalar_subquery().label("revision"),
    ).add_cte(labelled, metered, audited)


CREATE_POSTGRES = Prepared(_create_postgres())
