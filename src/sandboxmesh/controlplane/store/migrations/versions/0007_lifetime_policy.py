"""lifetime policy: default and maximum TTL, default idle time and sandboxes per member, on
organisations and teams

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLUMNS = (
    "policy_default_ttl_seconds",
    "policy_max_ttl_seconds",
    "policy_default_idle_seconds",
    "policy_max_sandboxes_per_member",
)


def upgrade() -> None:
    for table in ("organizations", "teams"):
        with op.batch_alter_table(table) as batch:
            for column in _COLUMNS:
                batch.add_column(sa.Column(column, sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in ("organizations", "teams"):
        with op.batch_alter_table(table) as batch:
            for column in _COLUMNS:
                batch.drop_column(column)
