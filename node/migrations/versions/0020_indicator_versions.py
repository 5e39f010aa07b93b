"""indicator_versions and data_version.shared_version: the dashboard's answers per indicator

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 08:40:00

A figure entered for one indicator used to make the next dashboard compute every indicator's
progress and gaps again (issue 14: ~175 ms at a million results). Declared writes of one
indicator's figures now bump that indicator's counter; everything else bumps the shared one
(``node.data_version``). Existing nodes start every indicator at version 0 (no row) and the
shared version at 0: nothing is cached across a migration (caches live in the processes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("data_version") as batch:
        batch.add_column(
            sa.Column("shared_version", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_table(
        "indicator_versions",
        sa.Column("indicator_code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("indicator_code", name=op.f("pk_indicator_versions")),
    )


def downgrade() -> None:
    op.drop_table("indicator_versions")
    with op.batch_alter_table("data_version") as batch:
        batch.drop_column("shared_version")
