"""One unit of work: a connection inside a transaction, its clock, and what to announce after.

Writers register the cluster revisions they produced; the caller publishes them to the
in-process hub only once the transaction committed (PostgreSQL's NOTIFY, issued inside the
transaction by `clusters.bump_revision`, is delivered by the server at commit likewise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

NOTIFY_CHANNEL = "sandboxmesh_revisions"


@dataclass
class Tx:
    conn: AsyncConnection
    now: datetime
    changed_clusters: dict[int, int] = field(default_factory=dict)

    @property
    def is_postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    def changed(self, cluster_id: int, revision: int) -> None:
        """Record that `cluster_id` reached `revision`, to publish in process after commit."""
        self.changed_clusters[cluster_id] = max(revision, self.changed_clusters.get(cluster_id, 0))
