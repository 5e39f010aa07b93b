"""SQLite's write-ahead log is folded back by the scheduler, not by a request's commit.

Issue 14: with SQLite's default (a checkpoint by whichever commit takes the log past 1,000
pages) the slowest 3 % of inbox ingests were those checkpoints. Requests now checkpoint only
past ``node.db.WAL_AUTOCHECKPOINT_PAGES`` (a bound for a node running without its scheduler);
the ``checkpoint_wal`` job folds the log back, passively, every 30 s.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import Engine, text

from node.config import load_config
from node.db import WAL_AUTOCHECKPOINT_PAGES, make_engine
from node.jobs import JOBS, node_runtime

PAGE = 4096


def _write_pages(engine: Engine, pages: int) -> None:
    """Commit ``pages`` pages of new rows, one 25-page commit at a time (a request's size)."""
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS filler (data BLOB)"))
    for _ in range(pages // 25):
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO filler (data) VALUES (randomblob(:size))"), {"size": 25 * PAGE}
            )


def test_every_connection_gets_the_bound(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            bound = connection.execute(text("PRAGMA wal_autocheckpoint")).scalar()
    finally:
        engine.dispose()
    assert bound == WAL_AUTOCHECKPOINT_PAGES == 10_000


def test_commits_past_sqlites_default_do_not_checkpoint_and_the_job_does(
    tmp_path: Path, template_node: Path
) -> None:
    """1,250 pages of commits (past SQLite's default of 1,000, which would have checkpointed
    in a commit): the database file does not grow, the log holds them; the job moves them."""
    shutil.copytree(template_node, tmp_path / "node")
    config = load_config(tmp_path / "node")
    database = tmp_path / "node" / "node.db"
    before = database.stat().st_size
    # Kept open until the end: SQLite folds the log back when its last connection closes.
    engine = make_engine(config.database_url)
    try:
        _write_pages(engine, 1_250)
        assert database.stat().st_size == before  # no commit folded the log back
        node = node_runtime(config)
        try:
            report = JOBS["checkpoint_wal"].run(node)
        finally:
            node.engine.dispose()
        assert database.stat().st_size >= before + 1_250 * PAGE
    finally:
        engine.dispose()
    assert report.startswith("checkpointed ")
    moved, frames = report.removeprefix("checkpointed ").split(" ")[0].split("/")
    assert int(frames) >= 1_250 and moved == frames


def test_the_job_runs_often() -> None:
    assert JOBS["checkpoint_wal"].every_seconds == 30
