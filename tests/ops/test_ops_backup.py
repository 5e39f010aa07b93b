"""``hrcnet backup`` / ``hrcnet restore`` (node/ops/backup.py) on a real node: SQLite and
PostgreSQL, real files, real locks. The two-node scenario (deliveries in flight, the twin sees
nothing twice) is in tests/multinode/test_multinode_backup.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from federation import keys as fkeys
from node.config import load_config
from node.db import make_engine, make_sessionmaker, session_scope
from node.migrate import alembic_config
from node.models import User
from node.network.models import OutboxItem, OutEnvelope, Peer
from node.network.outbox import sign_and_store
from node.ops import backup as ops
from node.ops.liveness import NodeIsLive, hold_serve_lock, is_served
from node.services import users
from tests.conftest import NodeHandle, PostgresServer

# The newest migration: what a node is upgraded to (read from the migrations, never typed here).
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
def pg_env(node: NodeHandle, monkeypatch: pytest.MonkeyPatch) -> NodeHandle:
    """The node's database URL in the environment, as an operator of a PostgreSQL node has it."""
    if node.database_url:
        monkeypatch.setenv("NODE_DATABASE_URL", node.database_url)
    else:
        monkeypatch.delenv("NODE_DATABASE_URL", raising=False)
    return node


@pytest.fixture
def restore_target(request: pytest.FixtureRequest, node: NodeHandle) -> Iterator[str | None]:
    """Where a restore of ``node`` goes: a new empty PostgreSQL database, or SQLite (None)."""
    if node.backend != "postgresql":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)


def add_user(data_dir: Path, email: str) -> None:
    config = load_config(data_dir)
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            users.create_user(
                session, email=email, password="correct horse battery", role="official",
                now=NOW, node_role="city",
            )  # fmt: skip
    finally:
        engine.dispose()


def emails(data_dir: Path) -> list[str]:
    config = load_config(data_dir)
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            return sorted(session.scalars(select(User.email)))
    finally:
        engine.dispose()


def tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def test_backup_then_restore_gives_the_same_node_with_private_files_kept_private(
    pg_env: NodeHandle,
    restore_target: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = pg_env
    add_user(node.data_dir, "ana@gent.example")
    dest = tmp_path / "backup"
    report = ops.backup(node.data_dir, dest, now=NOW)
    assert report.database == node.backend and report.migration == HEAD

    manifest = json.loads((dest / "manifest.json").read_text())
    database_file = "node.db" if node.backend == "sqlite" else "database.dump"
    assert set(manifest["files"]) == {"node.toml", "secret_key", "signing_key.pem", database_file}
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((dest / name).read_bytes()).hexdigest() == entry["sha256"]
    for secret in ("secret_key", "signing_key.pem", database_file):
        assert (dest / secret).stat().st_mode & 0o777 == 0o600, secret
        assert manifest["files"][secret]["mode"] == "0600"
    assert (dest.stat().st_mode & 0o777) == 0o700
    key = fkeys.load_signing_key(node.data_dir / "signing_key.pem")
    assert (manifest["city_id"], manifest["key_id"]) == ("be-gent", key.key_id)

    target = tmp_path / "restored"
    if restore_target:  # the operator names the new, empty database
        monkeypatch.setenv("NODE_DATABASE_URL", restore_target)
    restored = ops.restore(dest, target, now=NOW)
    assert (restored.city_id, restored.key_id) == ("be-gent", key.key_id)
    assert emails(target) == ["ana@gent.example"]
    for name in ("node.toml", "secret_key", "signing_key.pem"):
        assert (target / name).read_bytes() == (node.data_dir / name).read_bytes()
        mode = (node.data_dir / name).stat().st_mode & 0o777
        assert (target / name).stat().st_mode & 0o777 == mode, name
    assert not list(tmp_path.glob(".restored.restore-*")), "staging left behind"


def test_backup_while_the_node_writes_is_a_consistent_snapshot(
    template_node: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NODE_DATABASE_URL", raising=False)
    data_dir = tmp_path / "node"
    shutil.copytree(template_node, data_dir)
    config = load_config(data_dir)
    engine = make_engine(config.database_url)
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            with session_scope(make_sessionmaker(engine)) as session:
                users.create_user(
                    session, email=f"user{n}@gent.example", password="correct horse battery",
                    role="viewer", now=NOW, node_role="city",
                )  # fmt: skip
            n += 1
            written.append(n)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 3:
            stop.wait(0.01)
        ops.backup(data_dir, tmp_path / "backup", now=NOW)
    finally:
        stop.set()
        thread.join(timeout=30)
        engine.dispose()
    total = len(written)
    copy = sqlite3.connect(tmp_path / "backup" / "node.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count = copy.execute("SELECT count(*) FROM users").fetchone()[0]
    finally:
        copy.close()
    assert 3 <= count <= total


@pytest.fixture
def sqlite_backup(template_node: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("NODE_DATABASE_URL", raising=False)
    data_dir = tmp_path / "node"
    shutil.copytree(template_node, data_dir)
    dest = tmp_path / "backup"
    ops.backup(data_dir, dest, now=NOW)
    return dest


def test_restore_refuses_a_non_empty_data_dir_and_writes_nothing(
    sqlite_backup: Path, tmp_path: Path
) -> None:
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "notes.txt").write_text("the operator's file")
    with pytest.raises(ops.BackupError, match="not empty"):
        ops.restore(sqlite_backup, target, now=NOW)
    assert tree(target) == {"notes.txt": b"the operator's file"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup", "node", "occupied"]


def test_restore_with_force_sets_the_old_content_aside(sqlite_backup: Path, tmp_path: Path) -> None:
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "notes.txt").write_text("the operator's file")
    ops.restore(sqlite_backup, target, now=NOW, force=True)
    assert (target / "node.toml").is_file()
    [aside] = tmp_path.glob("occupied.before-restore-*")
    assert tree(aside) == {"notes.txt": b"the operator's file"}


def test_restore_refuses_a_served_data_dir_even_with_force(
    sqlite_backup: Path, tmp_path: Path
) -> None:
    target = tmp_path / "live"
    target.mkdir()
    (target / "node.toml").write_text("# a live node\n")
    fd = hold_serve_lock(target)  # what `hrcnet serve` holds while it runs
    try:
        assert is_served(target)
        with pytest.raises(NodeIsLive):
            hold_serve_lock(target)  # a second serve of the same data dir is refused too
        with pytest.raises(ops.BackupError, match="being served"):
            ops.restore(sqlite_backup, target, now=NOW, force=True)
        assert (target / "node.toml").read_text() == "# a live node\n"
        assert not list(tmp_path.glob("live.before-restore-*"))
    finally:
        os.close(fd)
    assert not is_served(target)  # released with the descriptor (i.e. when serve exits)


def test_restore_refuses_a_damaged_backup(sqlite_backup: Path, tmp_path: Path) -> None:
    config = sqlite_backup / "node.toml"
    config.write_text(config.read_text().replace("Gent", "Gant"))
    with pytest.raises(ops.BackupError, match="node.toml does not match its sha256"):
        ops.restore(sqlite_backup, tmp_path / "target", now=NOW)
    assert not (tmp_path / "target").exists()


def test_restore_refuses_a_key_that_is_not_the_nodes(sqlite_backup: Path, tmp_path: Path) -> None:
    """A backup whose key file was swapped (and its manifest made to agree) would make a node
    that signs as someone else: the database's recorded public key says no."""
    key_file = sqlite_backup / "signing_key.pem"
    key_file.unlink()
    other = fkeys.generate_signing_key()
    fkeys.save_private_key(other, key_file)
    manifest_path = sqlite_backup / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["signing_key.pem"]["sha256"] = hashlib.sha256(
        key_file.read_bytes()
    ).hexdigest()
    manifest["public_key"] = other.public_b64
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ops.BackupError, match="does not match the node's recorded public key"):
        ops.restore(sqlite_backup, tmp_path / "target", now=NOW)
    assert not (tmp_path / "target").exists()


def test_cli_restore_refusal_is_a_clear_message_and_exit_1(
    sqlite_backup: Path, tmp_path: Path
) -> None:
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "x").write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "node", "restore", str(sqlite_backup), str(target)],
        capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if k != "NODE_DATABASE_URL"},
    )  # fmt: skip
    assert done.returncode == 1
    assert "is not empty" in done.stderr and "Traceback" not in done.stderr
    assert tree(target) == {"x": b"x"}


def _signed(data_dir: Path, when: datetime) -> OutEnvelope:
    config = load_config(data_dir)
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            row = sign_and_store(
                session, config, type_="hrc.twinning.end", schema="hrc.twinning.end/1",
                stream="twinning", payload={"node": {}, "themes": None}, audience=["it-padova"],
                now=when,
            )  # fmt: skip
            session.expunge(row)
            return row
    finally:
        engine.dispose()


def test_restored_node_numbers_its_next_envelope_from_the_clock_in_microseconds(
    sqlite_backup: Path, tmp_path: Path
) -> None:
    restore_time = NOW + timedelta(days=3)
    report = ops.restore(sqlite_backup, tmp_path / "target", now=restore_time)
    floor = int(restore_time.timestamp() * 1_000_000)
    assert report.seq_floor == floor
    nxt = _signed(tmp_path / "target", restore_time)
    assert nxt.seq == floor  # exactly at the floor: the marker sits at floor - 1
    config = load_config(tmp_path / "target")
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            marker = session.get(OutEnvelope, floor - 1)
            assert marker is not None and marker.stream == "restore"
            # Never queued, so never pushed nor served by GET /outbox to anyone.
            queued = session.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.seq == floor - 1)
            )
            assert queued == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize(("ahead_us", "refused"), [(-1, True), (0, True), (1, False)])
def test_restore_refuses_a_clock_behind_the_backups_sequence(
    sqlite_backup: Path, tmp_path: Path, ahead_us: int, refused: bool
) -> None:
    """The marker (floor - 1) must be above every seq the database knows: floor - 1 equal to
    the highest seq is refused, one microsecond later is accepted."""
    target = tmp_path / "target"
    ops.restore(sqlite_backup, target, now=NOW)
    config = load_config(target)
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            highest = int(session.scalar(select(func.max(OutEnvelope.seq))))
        when = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=highest + 1 + ahead_us)
        if refused:
            with pytest.raises(ops.BackupError, match="clock is behind"):
                ops.bump_sequence(engine, config, now=when, backup_high_water=0)
        else:
            assert ops.bump_sequence(engine, config, now=when, backup_high_water=0) == (highest + 2)
    finally:
        engine.dispose()


def _peer_locks(data_dir: Path) -> dict[str, tuple[datetime | None, datetime | None]]:
    config = load_config(data_dir)
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            return {
                peer.city_id: (peer.delivery_lock_until, peer.next_attempt_at)
                for peer in session.scalars(select(Peer))
            }
    finally:
        engine.dispose()


def test_a_delivery_lock_caught_in_the_backup_is_released_by_the_restore(
    pg_env: NodeHandle,
    restore_target: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A backup taken while the lost node was pushing to a twin that was down holds that push's
    delivery lock. The process holding it is gone: the restored node must be free to deliver
    at once (a held lock made its first `hrcnet sync` answer "busy" and send nothing), while the
    twin's backoff, a fact about the twin, is kept."""
    node = pg_env
    retry_at = NOW + timedelta(minutes=10)
    config = load_config(node.data_dir)
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            for city_id, lock in (("it-padova", NOW + timedelta(minutes=5)), ("fr-lyon", None)):
                session.add(
                    Peer(
                        city_id=city_id, name=city_id, base_url=f"https://{city_id}.example",
                        state="active", requested_at=NOW, delivery_lock_until=lock,
                        next_attempt_at=retry_at,
                    )
                )  # fmt: skip
    finally:
        engine.dispose()
    assert _peer_locks(node.data_dir)["it-padova"][0] is not None
    dest = tmp_path / "backup"
    ops.backup(node.data_dir, dest, now=NOW)

    target = tmp_path / "restored"
    if restore_target:
        monkeypatch.setenv("NODE_DATABASE_URL", restore_target)
    ops.restore(dest, target, now=NOW)
    locks = _peer_locks(target)
    assert {city: lock for city, (lock, _) in locks.items()} == {"it-padova": None, "fr-lyon": None}
    assert all(retry == retry_at for _, retry in locks.values())
