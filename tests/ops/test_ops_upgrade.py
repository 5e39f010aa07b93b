"""``hrcnet upgrade DATA_DIR``: a backup first, then the database migrated from the oldest
migration (0001) to head, with data in it, on SQLite and PostgreSQL (real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from node import migrate
from node.config import load_config
from node.db import make_engine
from node.migrate import alembic_config
from node.ops import backup as ops
from node.ops.liveness import hold_serve_lock
from tests.conftest import NodeHandle

# The newest migration: what a node is upgraded to (read from the migrations, never typed here).
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()

OLDEST = "0001"


def at_oldest_migration_with_data(node: NodeHandle) -> str:
    """Rebuild the node's database as 0001 made it, holding a user, an indicator and figures."""
    url = node.database_url or load_config(node.data_dir, environ={}).database_url
    engine = make_engine(url)
    try:
        migrate.downgrade(engine, "base")
        migrate.upgrade(engine, OLDEST)
        with engine.begin() as db:
            db.execute(text(
                "INSERT INTO users (id, email, password_hash, role, active, created_at) "
                "VALUES (1, 'ana@gent.example', 'x', 'official', true, '2025-01-01 00:00:00+00')"
            ))  # fmt: skip
            db.execute(text(
                "INSERT INTO indicators (code, name, translations, \"right\", type, value_type, "
                "unit_code, unit_label, direction, core, source_type, sdg, extra, created_at) "
                "VALUES ('HRC-HOU-01', 'Evictions', '{}', 'Housing', 'outcome', 'number', 'N', "
                "'number', 'good_down', true, '[]', '[]', '{}', '2025-01-01 00:00:00+00')"
            ))  # fmt: skip
            for period, value, status in (
                ("2024", "1.5", "published"),
                ("2025", "2.5", "validated"),
            ):
                db.execute(
                    text(
                        "INSERT INTO results (indicator_code, period, period_start, period_end, "
                        "disaggregation_key, disaggregation, value_text, status, entered_by_id, "
                        "entered_at, updated_at) VALUES ('HRC-HOU-01', :p, :s, :e, '', '{}', :v, "
                        ":st, 1, '2025-01-01 00:00:00+00', '2025-01-01 00:00:00+00')"
                    ),
                    {
                        "p": period,
                        "s": f"{period}-01-01",
                        "e": f"{period}-12-31",
                        "v": value,
                        "st": status,
                    },
                )
        return url
    finally:
        engine.dispose()


def run(*args: str, node: NodeHandle) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NODE_DATABASE_URL"}
    if node.database_url:
        env["NODE_DATABASE_URL"] = node.database_url
    return subprocess.run(
        [sys.executable, "-m", "node", *args],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip


def version(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as db:
            return str(db.execute(text("SELECT version_num FROM alembic_version")).scalar())
    finally:
        engine.dispose()


def test_upgrade_from_the_oldest_migration_keeps_the_data_and_backs_up_first(
    node: NodeHandle, tmp_path: Path
) -> None:
    url = at_oldest_migration_with_data(node)
    backup_dir = tmp_path / "before-upgrade"
    done = run("upgrade", str(node.data_dir), "--backup-to", str(backup_dir), node=node)
    assert done.returncode == 0, done.stderr
    assert f"from {OLDEST} to {HEAD}" in done.stdout

    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["migration"] == OLDEST  # the backup holds the database as it was
    assert version(url) == HEAD
    engine = make_engine(url)
    try:
        with engine.connect() as db:
            assert db.execute(text("SELECT email, role FROM users")).all() == [
                ("ana@gent.example", "official")
            ]
            latest = db.execute(
                text("SELECT scope, period, value_text FROM results_latest ORDER BY scope")
            ).all()
    finally:
        engine.dispose()
    # 0012's rule: the newest published figure, and the newest validated-or-published one.
    assert latest == [("official", "2025", "2.5"), ("published", "2024", "1.5")]


def test_upgrade_refuses_a_served_node_and_changes_nothing(
    node: NodeHandle, tmp_path: Path
) -> None:
    url = at_oldest_migration_with_data(node)
    fd = hold_serve_lock(node.data_dir)
    try:
        done = run("upgrade", str(node.data_dir), "--backup-to", str(tmp_path / "b"), node=node)
    finally:
        os.close(fd)
    assert done.returncode == 1
    assert "is being served" in done.stderr
    assert version(url) == OLDEST
    assert not (tmp_path / "b").exists()


def test_restore_of_a_backup_from_the_oldest_migration_migrates_it(
    node: NodeHandle,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at_oldest_migration_with_data(node)
    if node.database_url:
        monkeypatch.setenv("NODE_DATABASE_URL", node.database_url)
    else:
        monkeypatch.delenv("NODE_DATABASE_URL", raising=False)
    ops.backup(node.data_dir, tmp_path / "old", now=datetime.now(UTC))
    target_url = None
    if node.database_url:  # the operator's new, empty database
        target_url = request.getfixturevalue("postgres").create_database()
        monkeypatch.setenv("NODE_DATABASE_URL", target_url)
    try:
        report = ops.restore(tmp_path / "old", tmp_path / "new", now=datetime.now(UTC))
        assert (report.migrated_from, report.migrated_to) == (OLDEST, HEAD)
        url = target_url or load_config(tmp_path / "new", environ={}).database_url
        engine = make_engine(url)
        try:
            with engine.connect() as db:
                assert db.execute(text("SELECT count(*) FROM users")).scalar() == 1
                keys = db.execute(text("SELECT key_id, state FROM node_keys")).all()
        finally:
            engine.dispose()
        assert keys == [(report.key_id, "current")]
    finally:
        if target_url:
            request.getfixturevalue("postgres").drop_database(target_url)
