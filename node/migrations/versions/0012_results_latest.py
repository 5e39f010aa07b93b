"""results: latest figure per breakdown (maintained table) and the covering index behind it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = [
    "indicator_code",
    "disaggregation_key",
    "period_end",
    "period_start",
    "status",
    "period",
    "value_text",
]
# Constant text only (no input reaches it): the two audiences and their statuses.
FILL = (
    "INSERT INTO results_latest (indicator_code, scope, disaggregation_key, period, value_text) "
    "SELECT indicator_code, {scope}, disaggregation_key, period, value_text FROM ("
    "SELECT indicator_code, disaggregation_key, period, value_text, row_number() OVER ("
    "PARTITION BY indicator_code, disaggregation_key "
    "ORDER BY period_end DESC, period_start DESC) AS rank "
    "FROM results WHERE status IN {statuses}) AS ranked WHERE rank = 1"
)


def upgrade() -> None:
    op.create_index("ix_results_latest", "results", COLUMNS, unique=False)
    op.create_table(
        "results_latest",
        sa.Column("indicator_code", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("disaggregation_key", sa.String(length=500), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("value_text", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint(
            "indicator_code", "scope", "disaggregation_key", name=op.f("pk_results_latest")
        ),
    )
    # Fill it from the figures already stored (same definition as refresh_latest).
    op.execute(FILL.format(scope="'published'", statuses="('published')"))
    op.execute(FILL.format(scope="'official'", statuses="('validated', 'published')"))


def downgrade() -> None:
    op.drop_table("results_latest")
    op.drop_index("ix_results_latest", table_name="results")
