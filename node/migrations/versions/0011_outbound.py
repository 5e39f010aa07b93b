"""outbound: key fetch queue and queued twinning discoveries

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_fetches",
        sa.Column("origin", sa.String(length=63), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["origin"],
            ["peers.city_id"],
            name=op.f("fk_key_fetches_origin_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("origin", name=op.f("pk_key_fetches")),
    )
    op.create_table(
        "peer_discoveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("themes", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("city_id", sa.String(length=63), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_discoveries")),
    )
    with op.batch_alter_table("peer_discoveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_peer_discoveries_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("peer_discoveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_peer_discoveries_state"))
    op.drop_table("peer_discoveries")
    op.drop_table("key_fetches")
