"""``hrcnet backup DATA_DIR DEST`` and ``hrcnet restore BACKUP DATA_DIR`` (docs/operations.md).

A backup is a new folder holding:

- ``node.toml``, ``secret_key``, the signing key file(s) (``signing_key.pem``, ``keys/*.pem``),
  each with its file mode kept (0600 for secrets);
- the database: ``node.db`` (SQLite, copied with SQLite's online backup API, a consistent
  snapshot even while the node writes) or ``database.dump`` (PostgreSQL, ``pg_dump`` custom
  format: one transaction snapshot);
- ``manifest.json``: versions, migration head, the envelope ``seq`` high-water mark, and the
  sha256, size and mode of every other file.

Restore checks every sha256, refuses a data dir that is served (its serve lock is held) and a
non-empty one unless ``force``, checks that the private key matches the public key the database
records as ours, migrates an older database to head, and moves the node's envelope sequence
past anything the node may have signed after the backup (:func:`bump_sequence`): the twins
have seen those numbers, and the same ``seq`` with a different document is equivocation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, inspect, select, text, update
from sqlalchemy.engine import make_url

from federation import keys as fkeys
from federation.canonical import canonical_bytes
from federation.envelope import envelope_sha256, make_envelope, sign_envelope
from node import migrate
from node.config import CONFIG_FILE, ConfigError, NodeConfig, default_database_url, load_config
from node.db import make_engine, make_sessionmaker, session_scope
from node.network import keyring
from node.network.models import NodeKey, OutEnvelope, Peer
from node.ops.liveness import is_served

MANIFEST = "manifest.json"
FORMAT = "hrcnet-backup/1"
SQLITE_FILE = "node.db"
PG_DUMP_FILE = "database.dump"
# The stream of the restore marker (see bump_sequence): never queued, never served to anyone.
RESTORE_STREAM = "restore"


class BackupError(Exception):
    """The backup or restore cannot go on; the message tells the operator why."""


@dataclass(frozen=True)
class BackupReport:
    dest: Path
    database: str
    migration: str | None
    seq_high_water: int
    files: int


@dataclass(frozen=True)
class RestoreReport:
    data_dir: Path
    city_id: str
    key_id: str
    migrated_from: str | None
    migrated_to: str | None
    seq_floor: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _libpq_url(url: str) -> str:
    """The SQLAlchemy URL as libpq (pg_dump, pg_restore) reads it: no ``+driver``."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _backend(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"Unsupported database {name!r}: only SQLite and PostgreSQL.")
    return name


def _migration_of(engine: Engine) -> str | None:
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        value = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(value) if value is not None else None


def _seq_high_water(engine: Engine) -> int:
    if not inspect(engine).has_table("out_envelopes"):  # a database older than 0002
        return 0
    with session_scope(make_sessionmaker(engine)) as session:
        return int(session.scalar(select(func.max(OutEnvelope.seq))) or 0)


def _key_files(config: NodeConfig, engine: Engine) -> list[str]:
    """Every private key file the node still has: the configured one and rotated ones."""
    names = {config.values["signing_key_file"]}
    if not inspect(engine).has_table("node_keys"):  # a database older than 0002
        return [config.values["signing_key_file"]]
    with session_scope(make_sessionmaker(engine)) as session:
        for row in session.scalars(select(NodeKey)):
            if row.file_name:
                names.add(row.file_name)
    return sorted(name for name in names if (config.data_dir / name).is_file())


def _copy_with_mode(source: Path, target: Path) -> None:
    """Copy a file keeping its mode; secrets are created 0600 from the start (never readable
    by others even for a moment)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(source.stat().st_mode)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out)
    os.chmod(target, mode)


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API copies a snapshot;
    writers are not blocked for the whole copy)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()
    os.chmod(target, 0o600)


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(  # noqa: S603 - fixed PostgreSQL tools, arguments are ours
        command, capture_output=True, text=True, check=False, env=env
    )
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()}")


def _pg_env(url: str) -> tuple[str, dict[str, str]]:
    """The connection for pg_dump/pg_restore, with the password in PGPASSWORD rather than on
    the command line (other users can read command lines in /proc)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return parsed.set(drivername="postgresql", password=None).render_as_string(), env


def backup(data_dir: Path, dest: Path, *, now: datetime) -> BackupReport:
    """Write a backup of the node in ``data_dir`` to the new folder ``dest`` (see module doc).

    Safe while the node serves: the database copy is a snapshot, files are read, nothing of
    the node is written. Built in a temporary folder beside ``dest`` and renamed at the end, so
    an interrupted backup never looks like a complete one.
    """
    data_dir = data_dir.resolve()
    dest = dest.resolve()
    try:
        config = load_config(data_dir)
    except ConfigError as exc:
        raise BackupError(str(exc)) from exc
    if dest.exists():
        raise BackupError(f"{dest} already exists; a backup goes to a new folder.")
    if dest == data_dir or data_dir in dest.parents:
        raise BackupError("The backup must not be written inside the data dir it copies.")
    url = config.database_url
    backend = _backend(url)
    engine = make_engine(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        os.chmod(staging, 0o700)  # it holds the private key: owner only
        migration = _migration_of(engine)
        # Read before the snapshot: the snapshot then holds at least this seq; restore moves
        # past whatever was signed later anyway (bump_sequence).
        high_water = _seq_high_water(engine)
        for name in [CONFIG_FILE, config.values["secret_key_file"], *_key_files(config, engine)]:
            source = data_dir / name
            if source.is_file():
                _copy_with_mode(source, staging / name)
        if backend == "sqlite":
            database_file = make_url(url).database
            if not database_file:
                raise BackupError("An in-memory SQLite database cannot be backed up.")
            _sqlite_copy(Path(database_file), staging / SQLITE_FILE)
        else:
            libpq, env = _pg_env(url)
            _run(
                [
                    "pg_dump", "--format=custom", "--no-owner", "--no-acl",
                    f"--file={staging / PG_DUMP_FILE}", f"--dbname={libpq}",
                ],
                "pg_dump",
                env,
            )  # fmt: skip
            os.chmod(staging / PG_DUMP_FILE, 0o600)
        files = {
            path.relative_to(staging).as_posix(): {
                "sha256": _sha256(path),
                "size": path.stat().st_size,
                "mode": f"{stat.S_IMODE(path.stat().st_mode):04o}",
            }
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        signing = fkeys.load_signing_key(data_dir / config.values["signing_key_file"])
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "hrcnet_version": metadata.version("hrcnet"),
            "created_at": now.isoformat(),
            "city_id": config.city_id,
            "role": config.role,
            "database": backend,
            # Only a database at the default place is recreated in the new data dir; another
            # SQLite path or PostgreSQL comes from NODE_DATABASE_URL at restore time.
            "default_database": url == default_database_url(data_dir),
            "migration": migration,
            "seq_high_water": high_water,
            "key_id": signing.key_id,
            "public_key": signing.public_b64,
            "files": files,
        }
        (staging / MANIFEST).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        engine.dispose()
    return BackupReport(dest, backend, migration, high_water, len(files))


def read_manifest(backup_dir: Path) -> dict[str, Any]:
    """The manifest of ``backup_dir``, after checking every file against its sha256.

    A backup is read as hostile input (it may have sat on a shared disk for years): a file
    missing, changed, or not named in the manifest stops the restore before anything is
    written.
    """
    path = backup_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(f"{backup_dir} is not an hrcnet backup (no {MANIFEST}).") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format (expected {FORMAT}).")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BackupError(f"{path} lists no files.")
    present = {
        p.relative_to(backup_dir).as_posix()
        for p in backup_dir.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }
    if present != set(files):
        extra, missing = sorted(present - set(files)), sorted(set(files) - present)
        raise BackupError(
            f"The backup's files differ from its manifest: extra {extra}, missing {missing}."
        )
    for name, entry in files.items():
        # Names come from the file: refuse anything that could escape the target dir.
        if name.startswith("/") or ".." in Path(name).parts:
            raise BackupError(f"The manifest names an unsafe path {name!r}.")
        if _sha256(backup_dir / name) != entry.get("sha256"):
            raise BackupError(f"{name} does not match its sha256 in the manifest: damaged backup.")
    return manifest


def _check_target(data_dir: Path, force: bool) -> None:
    if is_served(data_dir):
        # Never, even with --force: the serving node would keep writing into what we replace.
        raise BackupError(f"{data_dir} is being served right now; stop that node first.")
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())) and not force:
        raise BackupError(
            f"{data_dir} is not empty; restore into an empty folder, or add --force to set the "
            "current content aside (it is moved, not deleted)."
        )


def _verify_key(staging: Path, manifest: dict[str, Any], engine: Engine) -> str:
    """The private key must be the one the database (and manifest) record as our current key:
    a node signing with a key its twins do not know would see every envelope refused, and a
    swapped key file in a backup would be an impersonation attempt."""
    config = load_config(staging, {"database_url": "sqlite://"})
    signing = fkeys.load_signing_key(staging / config.values["signing_key_file"])
    recorded = None
    if inspect(engine).has_table("node_keys"):  # older databases record no key: the manifest
        with session_scope(make_sessionmaker(engine)) as session:
            current = session.scalar(select(NodeKey).where(NodeKey.state == "current"))
            recorded = current.public_b64 if current is not None else None
    if signing.public_b64 != manifest.get("public_key") or (
        recorded is not None and recorded != signing.public_b64
    ):
        raise BackupError(
            "The signing key in the backup does not match the node's recorded public key; "
            "refusing to restore a node that would sign as someone else."
        )
    return signing.key_id


def release_delivery_locks(engine: Engine) -> int:
    """Drop the per-destination delivery locks the backup may have caught held.

    A lock (``peers.delivery_lock_until``) belongs to the process that was delivering when the
    backup was taken, often one pushing to a twin that was down. That process does not exist
    for the restored node, yet its lock would make the restored node's deliveries to that twin
    answer "busy" until it expired: queued documents would wait with no attempt. Nothing serves
    the node while it is being restored (``restore`` refuses a served data dir), so no lock
    can be live. The backoff (``next_attempt_at``) is kept: it describes the twin, not us.
    """
    with session_scope(make_sessionmaker(engine)) as session:
        released = session.execute(
            update(Peer)
            .where(Peer.delivery_lock_until.is_not(None))
            .values(delivery_lock_until=None)
        )
        return int(released.rowcount or 0)


def bump_sequence(
    engine: Engine, config: NodeConfig, *, now: datetime, backup_high_water: int
) -> int:
    """Move the node's envelope counter past every ``seq`` it may have used after the backup.

    The restored database only knows the numbers up to the backup; the lost node may have
    signed and delivered more. Reusing one of those for a new document is equivocation in the
    twins' eyes (409 and an incident), and a lower one is a rollback. The rule: the next
    ``seq`` is at least the current time in **microseconds** since the epoch. The counter
    grows by one per signed envelope, and signing and storing one takes far more than a
    microsecond, so a node can never have counted past the clock since its last restore (the
    first restore jumps from small numbers; 2^53 µs is in the year 2255).

    The counter is ``max(seq) + 1`` of our envelopes, so the jump is recorded as one signed
    envelope of the local ``restore`` stream at ``floor - 1``, addressed to ourselves and never
    queued: no twin receives it or can pull it.
    """
    floor = int(now.timestamp() * 1_000_000)
    with session_scope(make_sessionmaker(engine)) as session:
        highest = int(session.scalar(select(func.max(OutEnvelope.seq))) or 0)
        # The marker takes floor - 1, so it too must be above every seq already used.
        if floor - 1 <= max(highest, backup_high_water):
            raise BackupError(
                "This machine's clock is behind the backup's sequence numbers; fix the clock "
                "(NTP) before restoring."
            )
        current = session.scalar(select(NodeKey).where(NodeKey.state == "current"))
        key = fkeys.load_signing_key(config.data_dir / current.file_name)  # type: ignore[union-attr, operator]
        created_ts = int(now.timestamp() * 1000)
        envelope = make_envelope(
            "hrc.node.restored",
            "hrc.node.restored/1",
            config.city_id,
            RESTORE_STREAM,
            floor - 1,
            created_ts,
            key.key_id,
            [config.city_id],
            {"backup_seq_high_water": backup_high_water, "previous_seq": highest},
        )
        envelope = sign_envelope(envelope, config.city_id, key)
        session.add(
            OutEnvelope(
                seq=floor - 1,
                stream=RESTORE_STREAM,
                type="hrc.node.restored",
                created_ts=created_ts,
                audience=[config.city_id],
                raw=canonical_bytes(envelope).decode("utf-8"),
                sha256=envelope_sha256(envelope),
            )
        )
    return floor


def restore(
    backup_dir: Path, data_dir: Path, *, now: datetime, force: bool = False
) -> RestoreReport:
    """Make the node of ``backup_dir`` live again in ``data_dir`` (see the module doc).

    The database URL: SQLite at the default place in the new data dir when the backup's was
    there; otherwise ``NODE_DATABASE_URL`` must name an empty database (PostgreSQL: restored
    with ``pg_restore``).
    """
    backup_dir = backup_dir.resolve()
    data_dir = data_dir.resolve()
    manifest = read_manifest(backup_dir)
    _check_target(data_dir, force)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent))
    engine: Engine | None = None
    try:
        os.chmod(staging, 0o700)
        for name, entry in manifest["files"].items():
            if name in (SQLITE_FILE, PG_DUMP_FILE):
                continue
            target = staging / name
            _copy_with_mode(backup_dir / name, target)
            os.chmod(target, int(entry["mode"], 8) & 0o777)
        env_url = os.environ.get("NODE_DATABASE_URL")
        if manifest["database"] == "sqlite" and (manifest.get("default_database") or not env_url):
            shutil.copyfile(backup_dir / SQLITE_FILE, staging / SQLITE_FILE)
            os.chmod(staging / SQLITE_FILE, 0o600)
            engine = make_engine(default_database_url(staging))
        else:
            if not env_url or _backend(env_url) != manifest["database"]:
                raise BackupError(
                    f"This backup holds a {manifest['database']} database: set NODE_DATABASE_URL "
                    "to an empty database of that kind to restore into."
                )
            engine = make_engine(env_url)
            if inspect(engine).get_table_names() and not force:
                raise BackupError("The database named by NODE_DATABASE_URL is not empty.")
            libpq, env = _pg_env(env_url)
            _run(
                [
                    "pg_restore", "--no-owner", "--no-acl", "--exit-on-error",
                    *(["--clean", "--if-exists"] if force else []),
                    f"--dbname={libpq}", str(backup_dir / PG_DUMP_FILE),
                ],
                "pg_restore",
                env,
            )  # fmt: skip
        key_id = _verify_key(staging, manifest, engine)
        migrated_from = _migration_of(engine)
        migrate.upgrade(engine)
        migrated_to = _migration_of(engine)
        config = load_config(staging, {"database_url": engine.url.render_as_string(False)})
        with session_scope(make_sessionmaker(engine)) as session:
            # A database from before 0002 records no key yet: record the (checked) one.
            keyring.register_initial_key(session, config, now)
        floor = bump_sequence(
            engine, config, now=now, backup_high_water=int(manifest.get("seq_high_water") or 0)
        )
        release_delivery_locks(engine)
        engine.dispose()
        engine = None
        if data_dir.exists():
            if any(data_dir.iterdir()):
                aside = data_dir.with_name(f"{data_dir.name}.before-restore-{now:%Y%m%dT%H%M%S}")
                os.rename(data_dir, aside)
            else:
                data_dir.rmdir()
        os.rename(staging, data_dir)
    except BaseException:
        if engine is not None:
            engine.dispose()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RestoreReport(data_dir, manifest["city_id"], key_id, migrated_from, migrated_to, floor)
