"""cso_figures: civil-society parallel figures, shown beside (never merged with) official ones

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 20:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cso_figures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("indicator_code", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("disaggregation_key", sa.String(length=500), nullable=False),
        sa.Column("disaggregation", sa.JSON(), nullable=False),
        sa.Column("value_text", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=300), nullable=False),
        sa.Column("method", sa.String(length=2000), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("entered_by_id", sa.Integer(), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("envelope_raw", sa.Text(), nullable=True),
        sa.Column("envelope_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["entered_by_id"],
            ["users.id"],
            name=op.f("fk_cso_figures_entered_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["indicator_code"],
            ["indicators.code"],
            name=op.f("fk_cso_figures_indicator_code_indicators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cso_figures")),
        sa.UniqueConstraint(
            "organisation",
            "indicator_code",
            "period",
            "disaggregation_key",
            name=op.f("uq_cso_figures_organisation_indicator_code_period_disaggregation_key"),
        ),
        sa.UniqueConstraint("envelope_sha256", name=op.f("uq_cso_figures_envelope_sha256")),
    )
    op.create_index(
        op.f("ix_cso_figures_indicator_code"), "cso_figures", ["indicator_code"], unique=False
    )
    op.create_index(op.f("ix_cso_figures_status"), "cso_figures", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_cso_figures_status"), table_name="cso_figures")
    op.drop_index(op.f("ix_cso_figures_indicator_code"), table_name="cso_figures")
    op.drop_table("cso_figures")
