"""the inbox on PostgreSQL: figures checked once per statement, envelopes compressed with lz4

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 09:00:00

Why (issue 14, the inbox on PostgreSQL): the foreign key ``received_figures.summary_id →
received_summaries.id`` is checked by PostgreSQL row by row (one internal query per figure):
for a 350-figure summary that was 1.3 of the server's 3.3 CPU-ms per ingest. The same rule is
kept here by statement-level triggers over the statement's transition table, one set-based
query per statement:

- an INSERT or UPDATE of figures whose summary does not exist is refused (SQLSTATE 23503,
  ``foreign_key_violation``, as the key refused it), whatever the statement;
- deleting summaries deletes their figures (the key's ``ON DELETE CASCADE``);
- changing a summary's id while figures still name the old one is refused (the key's
  ``NO ACTION``).

SQLite keeps the foreign key (its check costs little there; ``node.network.models`` still
declares it, and ``tests/federation/test_received_figures_integrity.py`` holds both databases
to the same rule). Downgrade puts the key back.

The stored envelope (``in_envelopes.raw``, tens of kB of JSON per summary) is compressed with
lz4 instead of the default pglz where the server was built with it (PostgreSQL 14+): pglz's
compression was ~0.3 of the server's CPU-ms per summary, lz4 compresses several times faster,
and the text still takes a fraction of its size on disk. Values stored before keep theirs.
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_received_figures_summary_id_received_summaries"

_UPGRADE = [
    f"ALTER TABLE received_figures DROP CONSTRAINT {FOREIGN_KEY}",
    """
    CREATE FUNCTION received_figures_name_a_summary() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM written_figures AS f
            WHERE NOT EXISTS (SELECT 1 FROM received_summaries AS s WHERE s.id = f.summary_id)
        ) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = 'received_figures.summary_id must name a received summary';
        END IF;
        RETURN NULL;
    END $$
    """,
    # One trigger per event: a trigger with transition tables fires for one event only.
    """
    CREATE TRIGGER received_figures_inserted_name_a_summary AFTER INSERT ON received_figures
    REFERENCING NEW TABLE AS written_figures
    FOR EACH STATEMENT EXECUTE FUNCTION received_figures_name_a_summary()
    """,
    """
    CREATE TRIGGER received_figures_updated_name_a_summary AFTER UPDATE ON received_figures
    REFERENCING NEW TABLE AS written_figures
    FOR EACH STATEMENT EXECUTE FUNCTION received_figures_name_a_summary()
    """,
    """
    CREATE FUNCTION received_summaries_take_their_figures() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM received_figures AS f USING gone_summaries AS s WHERE f.summary_id = s.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER received_summaries_deleted_take_their_figures AFTER DELETE ON received_summaries
    REFERENCING OLD TABLE AS gone_summaries
    FOR EACH STATEMENT EXECUTE FUNCTION received_summaries_take_their_figures()
    """,
    """
    CREATE FUNCTION received_summaries_keep_named_ids() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- Per updated summary: its old id gone (a primary-key probe), and then only, a figure
        -- still naming it (an index probe): marking revisions not current costs nothing more.
        IF EXISTS (
            SELECT 1 FROM old_summaries AS o
            WHERE NOT EXISTS (SELECT 1 FROM received_summaries AS s WHERE s.id = o.id)
            AND EXISTS (SELECT 1 FROM received_figures AS f WHERE f.summary_id = o.id)
        ) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = 'received figures still name this summary id';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER received_summaries_updated_keep_named_ids AFTER UPDATE ON received_summaries
    REFERENCING OLD TABLE AS old_summaries
    FOR EACH STATEMENT EXECUTE FUNCTION received_summaries_keep_named_ids()
    """,
]

_DOWNGRADE = [
    "DROP TRIGGER received_summaries_updated_keep_named_ids ON received_summaries",
    "DROP FUNCTION received_summaries_keep_named_ids()",
    "DROP TRIGGER received_summaries_deleted_take_their_figures ON received_summaries",
    "DROP FUNCTION received_summaries_take_their_figures()",
    "DROP TRIGGER received_figures_updated_name_a_summary ON received_figures",
    "DROP TRIGGER received_figures_inserted_name_a_summary ON received_figures",
    "DROP FUNCTION received_figures_name_a_summary()",
    f"ALTER TABLE received_figures ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY (summary_id) "
    "REFERENCES received_summaries (id) ON DELETE CASCADE",
]


def _has_lz4() -> bool:
    """Whether this server can compress a column with lz4 (built with it, PostgreSQL 14+)."""
    methods = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        .scalar()
    )
    return bool(methods) and "lz4" in methods


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _UPGRADE:
        op.execute(statement)
    if _has_lz4():
        op.execute("ALTER TABLE in_envelopes ALTER COLUMN raw SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    if _has_lz4():
        op.execute("ALTER TABLE in_envelopes ALTER COLUMN raw SET COMPRESSION default")
    for statement in _DOWNGRADE:
        op.execute(statement)
