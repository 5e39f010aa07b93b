"""results_group_counts: groups with a figure per indicator, audience, ground and period

What the dashboard's equality gaps start from, maintained with every write to ``results``
(``node.services.results.refresh_group_counts``); filled here from the figures already stored,
with the same definition (``node.services.results.group_counts_query``).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# Constant text only (no input reaches it): the two audiences, their statuses, the dialect's
# name of the position function (SQLite instr, PostgreSQL strpos; both 1-based).
FILL = (
    "INSERT INTO results_group_counts (indicator_code, period, scope, ground, groups) "
    "SELECT indicator_code, period, {scope}, ground, count(*) FROM ("
    "SELECT indicator_code, period, "
    "substr(disaggregation_key, 1, {position}(disaggregation_key, '=') - 1) AS ground "
    "FROM results WHERE status IN {statuses} AND disaggregation_key != '' "
    "AND disaggregation_key NOT LIKE '%|%' AND value_text NOT IN ('true', 'false')"
    ") AS counted GROUP BY indicator_code, ground, period"
)


def upgrade() -> None:
    op.create_table(
        "results_group_counts",
        sa.Column("indicator_code", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("ground", sa.String(length=500), nullable=False),
        sa.Column("groups", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "indicator_code", "period", "scope", "ground", name=op.f("pk_results_group_counts")
        ),
    )
    position = "instr" if op.get_bind().dialect.name == "sqlite" else "strpos"
    for scope, statuses in (
        ("'published'", "('published')"),
        ("'official'", "('validated', 'published')"),
    ):
        op.execute(FILL.format(scope=scope, statuses=statuses, position=position))


def downgrade() -> None:
    op.drop_table("results_group_counts")
