"""``hrcnet upgrade DATA_DIR``: a backup first, then the database migrated to this version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from node import migrate
from node.config import ConfigError, load_config
from node.db import make_engine
from node.ops.backup import BackupError, BackupReport, _migration_of, backup
from node.ops.liveness import is_served


@dataclass(frozen=True)
class UpgradeReport:
    backup: BackupReport
    migrated_from: str | None
    migrated_to: str | None


def default_backup_dest(data_dir: Path, now: datetime) -> Path:
    """Beside the data dir (never inside it: a backup of a backup would grow without end)."""
    return data_dir.resolve().with_name(f"{data_dir.resolve().name}.backup-{now:%Y%m%dT%H%M%S}")


def upgrade(data_dir: Path, *, now: datetime, backup_dest: Path | None = None) -> UpgradeReport:
    """Back the node up, then migrate its database to the head of this version.

    Refused while the node is served: the running (older) code would meet a newer schema. If
    the migration fails, the database is where Alembic's transaction left it (PostgreSQL rolls
    the whole upgrade back; SQLite per migration) and the backup restores the node as it was.
    """
    data_dir = data_dir.resolve()
    if is_served(data_dir):
        raise BackupError(f"{data_dir} is being served; stop it, upgrade, then start it again.")
    try:
        config = load_config(data_dir)
    except ConfigError as exc:
        raise BackupError(str(exc)) from exc
    report = backup(data_dir, backup_dest or default_backup_dest(data_dir, now), now=now)
    engine = make_engine(config.database_url)
    try:
        before = _migration_of(engine)
        migrate.upgrade(engine)
        after = _migration_of(engine)
    finally:
        engine.dispose()
    return UpgradeReport(report, before, after)
