"""Creating a node: data dir, config, secret, signing key, migrated database, core catalogue."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import ValidationError

from federation import keys
from node import migrate
from node.config import CONFIG_FILE, ConfigError, default_database_url, load_config, write_config
from node.db import make_engine, make_sessionmaker, session_scope
from node.errors import DomainError
from node.network import keyring
from node.runtime import utcnow
from node.services import catalogue
from schemas.config import NodeConfigSchema

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CATALOGUE = REPO_ROOT.parent / "shared" / "data" / "indicator_catalogue.json"


class SetupError(Exception):
    """The node cannot be created; the message says why and nothing was left behind."""


@dataclass
class NodeCreated:
    data_dir: Path
    key_id: str
    fingerprint: str
    catalogue_version: str
    indicators: int


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)


def init_node(
    data_dir: Path,
    *,
    city_id: str,
    name: str,
    country: str,
    region: str,
    base_url: str,
    role: str = "city",
    catalogue_path: Path | None = None,
    database_url: str | None = None,
) -> NodeCreated:
    """Create a node in ``data_dir``; refuse to touch an existing node.

    Everything is built in a temporary directory beside ``data_dir`` and moved into place at the
    end, so a failure half-way (bad catalogue, database down) leaves no half-made node behind.
    """
    data_dir = data_dir.resolve()
    if (data_dir / CONFIG_FILE).exists():
        raise SetupError(f"{data_dir} already holds an hrcnet node; refusing to overwrite it.")
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise SetupError(f"{data_dir} exists and is not an empty directory.")
    catalogue_file = catalogue_path or DEFAULT_CATALOGUE
    try:
        document: Any = json.loads(Path(catalogue_file).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SetupError(f"Catalogue file {catalogue_file} not found (use --catalogue).") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise SetupError(f"Catalogue file {catalogue_file} is not valid JSON: {exc}") from exc

    values = {
        "city_id": city_id,
        "name": name,
        "country": country.upper(),
        "region": region,
        "base_url": base_url.rstrip("/"),
        "role": role,
    }
    try:
        NodeConfigSchema().load({**values, "database_url": "sqlite://"})
    except ValidationError as exc:
        problems = "; ".join(
            f"{k}: {' '.join(map(str, v))}" for k, v in exc.normalized_messages().items()
        )
        raise SetupError(f"Invalid node settings: {problems}") from exc

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.init-", dir=data_dir.parent))
    try:
        os.chmod(staging, 0o700)  # the data dir holds the private key: owner only
        write_config(staging, values)
        _write_private(staging / "secret_key", secrets.token_hex(32))
        signing_key = keys.generate_signing_key()
        keys.save_private_key(signing_key, staging / "signing_key.pem")
        url = database_url or os.environ.get("NODE_DATABASE_URL")
        # SQLite is created in the staging dir, then moved with it (absolute path fixed below).
        engine = make_engine(url or default_database_url(staging))
        try:
            migrate.upgrade(engine)
            with session_scope(make_sessionmaker(engine)) as session:
                report = catalogue.load_catalogue(session, document, now=utcnow())
                keyring.register_initial_key(
                    session,
                    load_config(staging, {"database_url": url or default_database_url(staging)}),
                    utcnow(),
                )
        except DomainError as exc:
            raise SetupError(
                f"Catalogue file {catalogue_file}: {exc.detail} {exc.errors or ''}"
            ) from exc
        finally:
            engine.dispose()
        for suffix in ("-wal", "-shm"):
            (staging / f"node.db{suffix}").unlink(missing_ok=True)
        if data_dir.exists():
            data_dir.rmdir()
        staging.rename(data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return NodeCreated(
        data_dir,
        signing_key.key_id,
        signing_key.fingerprint,
        report.version,
        report.indicators_added,
    )


__all__ = ["ConfigError", "NodeCreated", "SetupError", "init_node"]
