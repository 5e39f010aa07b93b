"""community reports: reports, moderation history, trusted reporters, per-source counters

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "community_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("gateway", sa.String(length=20), nullable=True),
        sa.Column("gateway_message_id", sa.String(length=100), nullable=True),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("latitude", sa.String(length=20), nullable=True),
        sa.Column("longitude", sa.String(length=20), nullable=True),
        sa.Column("contact", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("evidence_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"],
            ["community_reports.id"],
            name=op.f("fk_community_reports_duplicate_of_id_community_reports"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence.id"],
            name=op.f("fk_community_reports_evidence_id_evidence"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_reports")),
        sa.UniqueConstraint(
            "gateway",
            "gateway_message_id",
            name=op.f("uq_community_reports_gateway_gateway_message_id"),
        ),
        sa.UniqueConstraint("reference", name=op.f("uq_community_reports_reference")),
    )
    with op.batch_alter_table("community_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_community_reports_cell", ["category", "period", "district"], unique=False
        )
        batch_op.create_index(
            "ix_community_reports_source", ["source_hash", "received_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_community_reports_state"), ["state"], unique=False)

    op.create_table(
        "community_report_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=12), nullable=True),
        sa.Column("to_state", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=320), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_community_report_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["community_reports.id"],
            name=op.f("fk_community_report_events_report_id_community_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_report_events")),
    )
    with op.batch_alter_table("community_report_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_report_events_report_id"), ["report_id"], unique=False
        )

    op.create_table(
        "community_trusted_reporters",
        sa.Column("source_hash", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("marked_by_id", sa.Integer(), nullable=True),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["marked_by_id"],
            ["users.id"],
            name=op.f("fk_community_trusted_reporters_marked_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("source_hash", name=op.f("pk_community_trusted_reporters")),
    )

    op.create_table(
        "community_throttles",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_community_throttles")),
    )
    with op.batch_alter_table("community_throttles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_throttles_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("community_throttles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_throttles_expires_at"))
    op.drop_table("community_throttles")
    op.drop_table("community_trusted_reporters")
    with op.batch_alter_table("community_report_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_report_events_report_id"))
    op.drop_table("community_report_events")
    with op.batch_alter_table("community_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_reports_state"))
        batch_op.drop_index("ix_community_reports_source")
        batch_op.drop_index("ix_community_reports_cell")
    op.drop_table("community_reports")
