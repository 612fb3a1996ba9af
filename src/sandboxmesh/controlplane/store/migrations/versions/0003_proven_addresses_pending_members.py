"""accounts count only once their address is proven; memberships start pending

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Before this revision an account was trusted with whatever email it was created with, so an
account made by sign-up or by accepting an invitation may belong to someone who never owned
the address. Existing accounts therefore start unverified: their next log-in mails a link to
the address, and only its owner gets in. Existing memberships stay accepted (they worked
before; their API tokens keep working).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_verified_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_org_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_users_last_org_id_organizations"),
            "organizations",
            ["last_org_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accepted_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE members SET accepted_at = created_at")
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    op.create_table(
        "email_verifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("organization", sa.String(length=63), nullable=True),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitations.id"],
            name=op.f("fk_email_verifications_invitation_id_invitations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_verifications")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_verifications_token_hash")),
    )
    with op.batch_alter_table("email_verifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_verifications_prefix"), ["prefix"])
        batch_op.create_index(batch_op.f("ix_email_verifications_email"), ["email"])


def downgrade() -> None:
    with op.batch_alter_table("email_verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_verifications_email"))
        batch_op.drop_index(batch_op.f("ix_email_verifications_prefix"))
    op.drop_table("email_verifications")
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_column("email")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("accepted_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_users_last_org_id_organizations"), type_="foreignkey"
        )
        batch_op.drop_column("last_org_id")
        batch_op.drop_column("email_verified_at")
