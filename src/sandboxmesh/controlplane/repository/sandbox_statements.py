"""The statements of the sandbox hot path, built once at import and run with bound values.

Building a SQLAlchemy Core statement costs several times what executing a built one does
(coercions, operators, cache key), and a create used to build a dozen per request. A
statement built once keeps its memoised cache key, so executing it costs one compiled-cache
hit. Those every create runs (`TARGET_*`, `CREATE_BATCH_POSTGRES`) are `Prepared`
(store/prepared.py): on PostgreSQL they run on the driver connection, without SQLAlchemy's
execution. Every statement here filters by the tenant it is given (`org_id`): callers pass
their scope's organisation, never a value from the request.

- `target(...)`: what a create or update of a sandbox needs to know, in one round trip: the
  team, the cluster and whether the name is taken, each inside the organisation.
- `CREATE_BATCH_POSTGRES`: whole creates on PostgreSQL, any number of one organisation in
  one statement (create_batches.py gathers them), complete or not at all: both quota
  counters, the cluster revisions (with their NOTIFY), the sandboxes, their labels, usage
  records and audit events.
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
# The organisation's limit: its own, else its plan's default.
_ORG_LIMIT = sa.func.coalesce(
    organizations.c.max_sandboxes,
    sa.case(
        {plan.value: limit for plan, limit in plans.DEFAULT_ORG_LIMIT.items()},
        value=organizations.c.plan,
    ),
)
_ORG_ROOM = organizations.c.active_sandboxes < _ORG_LIMIT
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


# --- the create, on PostgreSQL: one statement for a batch of creates --------------------------

#: The columns of one create in the batch statement's `items` (a JSON array of objects):
#: `ord` its place in the batch, the ids of its team and cluster, times as naive UTC.
ITEM_COLUMNS = (
    sa.column("ord", sa.Integer),
    sa.column("name", sa.String),
    sa.column("team", sa.Integer),
    sa.column("cluster", sa.Integer),
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


def _create_batch_postgres() -> sa.Select[Any]:
    """Creates of one organisation in one statement, complete or not at all, so it needs no
    transaction around it: a refused create writes nothing.

    The organisation's row and the rows of the teams and clusters named are locked first:
    the organisation's before any other (a joined row's locks are taken in FROM order), as
    every writer that locks several of these rows does, so two of them never wait for each
    other. The counters are read from their newest versions (a locking read in READ
    COMMITTED waits for a concurrent writer and re-reads the row it committed). The lock is
    the one the updates take anyway (FOR NO KEY UPDATE), which leaves foreign-key checks of
    other writers unblocked.

    Each create is decided in `ord` order exactly as one statement per create would decide
    it: refused when its team or cluster is gone, then when the organisation is full, then
    when its team is. The counters are read once, so the decision counts what the earlier
    creates of the batch take: a create fits its team when the team's count plus the
    creates of that team up to it stays within the limit, and fits the organisation when
    the count plus the earlier creates that fit their teams is below the limit. (Counting a
    create refused by the organisation against its team changes nothing: once the
    organisation is full, every later create is refused by it first.) Accepted creates take
    consecutive revisions of their cluster, in `ord` order.

    Parameters: org, items (ITEM_COLUMNS; names distinct) and phase_value. One row per item,
    in `ord` order: ord, present (False: its team or cluster is gone), org_full, team_fits,
    sandbox_id and revision (None: not created).
    """
    item = sa.select(
        sa.func.jsonb_to_recordset(sa.bindparam("items", type_=postgresql.JSONB))
        .table_valued(*ITEM_COLUMNS)
        .render_derived(name="given", with_types=True)
    ).cte("item")
    locked = (
        sa.select(
            organizations.c.active_sandboxes.label("org_active"),
            _ORG_LIMIT.label("org_max"),
            teams.c.id.label("team_id"),
            teams.c.active_sandboxes.label("team_active"),
            teams.c.max_sandboxes.label("team_max"),
            clusters.c.id.label("cluster_id"),
        )
        .select_from(
            organizations.join(teams, teams.c.org_id == organizations.c.id).join(
                clusters, clusters.c.org_id == organizations.c.id
            )
        )
        .where(
            organizations.c.id == _org(),
            teams.c.id.in_(sa.select(item.c.team)),
            clusters.c.id.in_(sa.select(item.c.cluster)),
        )
        .with_for_update(of=[organizations, teams, clusters], key_share=True)
        .cte("locked")
    )
    present = locked.c.team_id.is_not(None)
    # count() skips NULLs: the creates of the team up to this one whose targets exist.
    of_team_so_far = sa.func.count(locked.c.team_id).over(
        partition_by=item.c.team, order_by=item.c.ord
    )
    fits = (
        sa.select(
            item,
            locked.c.org_active,
            locked.c.org_max,
            present.label("present"),
            sa.and_(
                present,
                sa.or_(
                    locked.c.team_max.is_(None),
                    locked.c.team_active + of_team_so_far <= locked.c.team_max,
                ),
            ).label("team_fits"),
        )
        .select_from(
            item.outerjoin(
                locked,
                sa.and_(locked.c.team_id == item.c.team, locked.c.cluster_id == item.c.cluster),
            )
        )
        .cte("fits")
    )
    earlier_fitting = (
        sa.func.count().filter(fits.c.team_fits).over(order_by=fits.c.ord, rows=(None, -1))
    )
    # An organisation without a limit (no plan known) is full rather than unlimited.
    org_full = sa.func.coalesce(fits.c.org_active + earlier_fitting >= fits.c.org_max, True)
    decided = sa.select(fits, sa.and_(fits.c.present, org_full).label("org_full")).cte("decided")
    accepted = (
        sa.select(
            decided,
            sa.func.row_number()
            .over(partition_by=decided.c.cluster, order_by=decided.c.ord)
            .label("nth"),
        )
        .where(decided.c.present, decided.c.team_fits, sa.not_(decided.c.org_full))
        .cte("accepted")
    )
    org_taken = (
        organizations.update()
        .where(organizations.c.id == _org(), sa.exists(sa.select(accepted.c.ord)))
        .values(
            active_sandboxes=organizations.c.active_sandboxes
            + sa.select(sa.func.count()).select_from(accepted).scalar_subquery()
        )
        .returning(organizations.c.id)
        .cte("org_taken")
    )
    per_team = (
        sa.select(accepted.c.team, sa.func.count().label("taken"))
        .group_by(accepted.c.team)
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
        sa.select(accepted.c.cluster, sa.func.count().label("taken"))
        .group_by(accepted.c.cluster)
        .subquery("per_cluster")
    )
    # The revision's row lock is held until the commit, so revisions commit in order; the
    # NOTIFY (of the batch's last revision) is delivered to the other processes at the commit.
    bumped = (
        clusters.update()
        .where(clusters.c.org_id == _org(), clusters.c.id == per_cluster.c.cluster)
        .values(revision=clusters.c.revision + per_cluster.c.taken)
        .returning(
            clusters.c.id,
            clusters.c.revision,
            per_cluster.c.taken,
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
                accepted.c.team,
                accepted.c.cluster,
                accepted.c.name,
                accepted.c.spec,
                sa.literal_column("1", sa.Integer),
                accepted.c.routing,
                sa.bindparam("phase_value", type_=sa.String),
                bumped.c.revision - bumped.c.taken + accepted.c.nth,
                accepted.c.actor,
                accepted.c.at,
                accepted.c.at,
                accepted.c.expiry,
            )
            .select_from(accepted.join(bumped, bumped.c.id == accepted.c.cluster))
            .order_by(accepted.c.ord),
        )
        .returning(sandboxes.c.id, sandboxes.c.name, sandboxes.c.revision)
        .cte("created")
    )
    # The rows written after the sandbox find their create by its name (distinct in a batch).
    # Every row is written in arrival order, so ids (the audit log's order) follow it.
    made = created.join(accepted, accepted.c.name == created.c.name)
    labels = (
        sa.func.jsonb_each_text(accepted.c.labels).table_valued("key", "value").lateral("label")
    )
    labelled = (
        sandbox_labels.insert()
        .from_select(
            ["sandbox_id", "key", "value"],
            sa.select(created.c.id, labels.c.key, labels.c.value)
            .select_from(made.join(labels, sa.true()))
            .order_by(accepted.c.ord),
        )
        .cte("labelled")
    )
    metered = (
        usage_records.insert()
        .from_select(
            ["org_id", "team_name", "sandbox_name", "sandbox_id", "started_at"],
            sa.select(_org(), accepted.c.team_label, accepted.c.name, created.c.id, accepted.c.at)
            .select_from(made)
            .order_by(accepted.c.ord),
        )
        .cte("metered")
    )
    audited = (
        audit_events.insert()
        .from_select(
            ["org_id", "at", "actor", "action", "target", "details"],
            sa.select(
                _org(),
                accepted.c.at,
                accepted.c.actor,
                sa.literal_column("'sandbox.create'", sa.String),
                accepted.c.audit_target,
                accepted.c.audit_details,
            )
            .select_from(made)
            .order_by(accepted.c.ord),
        )
        .cte("audited")
    )
    return (
        sa.select(
            decided.c.ord,
            decided.c.present,
            decided.c.org_full,
            decided.c.team_fits,
            created.c.id.label("sandbox_id"),
            created.c.revision,
        )
        .select_from(decided.outerjoin(created, created.c.name == decided.c.name))
        .order_by(decided.c.ord)
        .add_cte(org_taken, team_taken, labelled, metered, audited)
    )


CREATE_BATCH_POSTGRES = Prepared(_create_batch_postgres())
