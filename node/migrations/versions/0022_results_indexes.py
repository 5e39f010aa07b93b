"""results: only the indexes a query needs (issue 14, seventh round)

Every write of a figure maintains every index of ``results``: on PostgreSQL an UPDATE that
cannot be heap-only (HOT) adds an entry to each of them, and an import of 100,000 figures
into a million spent most of the server's time there. What went, and why (every query that
reads ``results`` and what serves it: ``docs/performance.md``, "seventh round"):

- ``ix_results_indicator_code``: its one column is the first of the unique index and of
  ``ix_results_latest``, which serve every read by indicator as well.
- ``ix_results_status``: three values, 97 % of the rows published; the planners used it to
  read nearly the whole table through an index. Only a search for drafts or validated
  figures without an indicator (``GET /api/v1/results?status=``) gained from it; it now reads
  the table (~0.1 s at a million).
- ``value_text``, ``status`` and ``period`` from ``ix_results_latest`` (now indicator, breakdown,
  period end, period start: the order ``refresh_latest`` seeks and ranks in): the import and
  ``change_status`` change the value and the status, so with them in an index no such update
  could be heap-only on PostgreSQL, and on SQLite every one rewrote that index's entry.

Kept: the primary key, the unique (indicator, period, breakdown), ``ix_results_period_end``
(the portal's years and annual report).

PostgreSQL: ``fillfactor = 90`` for ``results``, so a page keeps room for new versions of its
rows and an update that changes no indexed column (now: a value, a status, a source) can be
heap-only, with no index entry at all. It applies to the pages written from now on (a new
node's, or rows added later); ``VACUUM FULL results`` packs an existing table at it (it cannot
run inside this migration's transaction; optional, in a quiet moment). ~10 % more heap.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# PostgreSQL's fillfactor of results (see above; the model's __table_args__ says the same).
FILLFACTOR = 90
LATEST = ["indicator_code", "disaggregation_key", "period_end", "period_start"]
# As migration 0012 made it: every column the latest-value query read.
LATEST_BEFORE = [*LATEST, "status", "period", "value_text"]


def upgrade() -> None:
    op.drop_index("ix_results_indicator_code", table_name="results")
    op.drop_index("ix_results_status", table_name="results")
    op.drop_index("ix_results_latest", table_name="results")
    op.create_index("ix_results_latest", "results", LATEST, unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE results SET (fillfactor = {FILLFACTOR})")
    _restore_statistics()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE results RESET (fillfactor)")
    op.drop_index("ix_results_latest", table_name="results")
    op.create_index("ix_results_latest", "results", LATEST_BEFORE, unique=False)
    op.create_index("ix_results_status", "results", ["status"], unique=False)
    op.create_index("ix_results_indicator_code", "results", ["indicator_code"], unique=False)
    _restore_statistics()


def _restore_statistics() -> None:
    """SQLite: give the new indexes statistics when the others have them.

    A dropped index's row in ``sqlite_stat1`` goes with it and a new index has none; a
    planner with statistics for some indexes of a table and not for others misjudges them (on
    a million results, the group counts' rebuild read the new index instead of the unique
    one). A node never analysed keeps none (PostgreSQL keeps statistics per column, not per
    plain index: nothing to do there).
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if sa.inspect(bind).has_table("sqlite_stat1"):
        op.execute("ANALYZE results")
