"""data_version: a counter bumped with every write to results, targets and the catalogue

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 19:30:00
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "data_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_version")),
    )
    # The epoch is random per database: caches keyed by (epoch, version) never mix two.
    op.bulk_insert(table, [{"id": 1, "epoch": uuid.uuid4().hex, "version": 0}])


def downgrade() -> None:
    op.drop_table("data_version")
