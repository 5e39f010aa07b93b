"""pinned secretariat (trust anchor) and directory key changes awaiting confirmation

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 12:45:00

A peer's role used to come from what the peer declared about itself; from now on only the
pinned secretariat is "secretariat". Existing peers are reset to "city": nothing is pinned
automatically (a twin that called itself the secretariat must not become the anchor by an
upgrade); an operator pins the secretariat the node joined with ``hrcnet secretariat pin``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secretariat_anchor",
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("city_id", sa.String(length=63), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_b64", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("how", sa.String(length=20), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("slot = 1", name=op.f("ck_secretariat_anchor_one_anchor")),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_secretariat_anchor")),
    )
    op.create_table(
        "key_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("city_id", sa.String(length=63), nullable=False),
        sa.Column("old_keys", sa.JSON(), nullable=False),
        sa.Column("new_keys", sa.JSON(), nullable=False),
        sa.Column("new_key_ids", sa.String(length=400), nullable=False),
        sa.Column("directory_origin", sa.String(length=63), nullable=False),
        sa.Column("directory_seq", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["city_id"],
            ["peers.city_id"],
            name=op.f("fk_key_changes_city_id_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_changes")),
    )
    op.create_index("ix_key_changes_city_state", "key_changes", ["city_id", "state"], unique=False)
    # Declared roles decided nothing from now on: see the module docstring.
    op.execute("UPDATE peers SET role = 'city'")


def downgrade() -> None:
    op.drop_index("ix_key_changes_city_state", table_name="key_changes")
    op.drop_table("key_changes")
    op.drop_table("secretariat_anchor")
