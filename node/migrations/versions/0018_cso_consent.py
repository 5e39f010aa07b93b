"""cso_consent: a CSO's consent to carry its figures to twins, withdrawals, twins' statements

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cso_figures") as batch:
        # Existing figures were published without consent: not shared (the default).
        batch.add_column(
            sa.Column("share_with_twins", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("shared_with", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("sharing_withdrawn_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("withdrawal_reason", sa.Text(), nullable=True))
    op.create_table(
        "received_cso_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("envelope_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=63), nullable=False),
        sa.Column("envelope_sha256", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=300), nullable=False),
        sa.Column("indicator_code", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("disaggregation_key", sa.String(length=500), nullable=False),
        sa.Column("disaggregation", sa.JSON(), nullable=False),
        sa.Column("value_text", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=2000), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawal_scope", sa.String(length=20), nullable=True),
        sa.Column("withdrawal_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["envelope_id"],
            ["in_envelopes.id"],
            name=op.f("fk_received_cso_statements_envelope_id_in_envelopes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_received_cso_statements")),
        sa.UniqueConstraint(
            "origin",
            "envelope_sha256",
            name=op.f("uq_received_cso_statements_origin_envelope_sha256"),
        ),
    )
    op.create_index(
        op.f("ix_received_cso_statements_origin"),
        "received_cso_statements",
        ["origin"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_received_cso_statements_origin"), table_name="received_cso_statements")
    op.drop_table("received_cso_statements")
    with op.batch_alter_table("cso_figures") as batch:
        batch.drop_column("withdrawal_reason")
        batch.drop_column("withdrawn_at")
        batch.drop_column("sharing_withdrawn_at")
        batch.drop_column("shared_with")
        batch.drop_column("share_with_twins")
