"""result_changes on PostgreSQL: each history line's figure checked once per statement

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 09:15:00

Why (issue 14, the import on PostgreSQL): the foreign key ``result_changes.result_id →
results.id`` is checked by PostgreSQL row by row, one internal query per history line: ~0.4 of
the server's CPU-s for an import of 100,000 figures, which writes a line per figure. The same
rule is kept here as in 0021 for the received figures:

- an INSERT or UPDATE of history lines naming no figure is refused (SQLSTATE 23503,
  ``foreign_key_violation``): one set-based query per statement, over its transition table;
- deleting figures deletes their history (the key's ``ON DELETE CASCADE``; the community's
  derived figures are deleted so), once per statement;
- a figure's id cannot change while history lines name it (the key's ``NO ACTION``): a row
  trigger on ``UPDATE OF id`` only, so the import's updates of values and statuses never call
  it (a statement trigger over every updated figure would cost what the key cost).

SQLite keeps the key (``node.models.ResultChange`` still declares it);
``tests/test_history_integrity.py`` holds both databases to the same rule. Downgrade puts the
key back.
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_result_changes_result_id_results"

_UPGRADE = [
    f"ALTER TABLE result_changes DROP CONSTRAINT {FOREIGN_KEY}",
    """
    CREATE FUNCTION result_changes_name_a_figure() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM written_lines AS l
            WHERE NOT EXISTS (SELECT 1 FROM results AS r WHERE r.id = l.result_id)
        ) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = 'result_changes.result_id must name a figure';
        END IF;
        RETURN NULL;
    END $$
    """,
    # One trigger per event: a trigger with transition tables fires for one event only.
    """
    CREATE TRIGGER result_changes_inserted_name_a_figure AFTER INSERT ON result_changes
    REFERENCING NEW TABLE AS written_lines
    FOR EACH STATEMENT EXECUTE FUNCTION result_changes_name_a_figure()
    """,
    """
    CREATE TRIGGER result_changes_updated_name_a_figure AFTER UPDATE ON result_changes
    REFERENCING NEW TABLE AS written_lines
    FOR EACH STATEMENT EXECUTE FUNCTION result_changes_name_a_figure()
    """,
    """
    CREATE FUNCTION results_take_their_history() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM result_changes AS l USING gone_figures AS r WHERE l.result_id = r.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER results_deleted_take_their_history AFTER DELETE ON results
    REFERENCING OLD TABLE AS gone_figures
    FOR EACH STATEMENT EXECUTE FUNCTION results_take_their_history()
    """,
    """
    CREATE FUNCTION results_keep_named_ids() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM result_changes WHERE result_id = OLD.id) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'foreign_key_violation',
                MESSAGE = 'history lines still name this figure id';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER results_id_changed_keep_named_ids BEFORE UPDATE OF id ON results
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION results_keep_named_ids()
    """,
]

_DOWNGRADE = [
    "DROP TRIGGER results_id_changed_keep_named_ids ON results",
    "DROP FUNCTION results_keep_named_ids()",
    "DROP TRIGGER results_deleted_take_their_history ON results",
    "DROP FUNCTION results_take_their_history()",
    "DROP TRIGGER result_changes_updated_name_a_figure ON result_changes",
    "DROP TRIGGER result_changes_inserted_name_a_figure ON result_changes",
    "DROP FUNCTION result_changes_name_a_figure()",
    f"ALTER TABLE result_changes ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY (result_id) "
    "REFERENCES results (id) ON DELETE CASCADE",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _DOWNGRADE:
        op.execute(statement)
