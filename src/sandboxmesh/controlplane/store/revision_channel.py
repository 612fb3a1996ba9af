"""The PostgreSQL channel on which a cluster's new assignment revision is announced.

Every write that bumps a cluster's revision sends `notify(cluster_id, revision)` in the same
statement; PostgreSQL delivers it to the other server processes when the transaction commits
(`revisions.PostgresListener` listens), never when it rolls back.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

CHANNEL = "sandboxmesh_revisions"


def notify(cluster_id: sa.ColumnElement[Any], revision: sa.ColumnElement[Any]) -> sa.Function[Any]:
    """`pg_notify` of "<cluster id>:<revision>" on CHANNEL (PostgreSQL only)."""
    return sa.func.pg_notify(
        CHANNEL, sa.cast(cluster_id, sa.String) + ":" + sa.cast(revision, sa.String)
    )
