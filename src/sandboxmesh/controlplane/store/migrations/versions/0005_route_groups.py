"""route groups: one routing key across the sandboxes a label selector matches

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "route_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("spec", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("routing_key", sa.String(length=16), nullable=False),
        sa.Column("deleting", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_route_groups_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_route_groups_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_groups")),
        sa.UniqueConstraint("routing_key", name=op.f("uq_route_groups_routing_key")),
    )
    with op.batch_alter_table("route_groups", schema=None) as batch_op:
        batch_op.create_index(
            "uq_route_groups_org_id_name_live",
            ["org_id", "name"],
            unique=True,
            sqlite_where=sa.text("NOT deleting"),
            postgresql_where=sa.text("NOT deleting"),
        )
        batch_op.create_index("ix_route_groups_cluster_revision", ["cluster_id", "revision"])
        batch_op.create_index("ix_route_groups_expiry", ["deleting", "expires_at"])


def downgrade() -> None:
    op.drop_table("route_groups")
