"""The hrcnet command line, run as a real process: clear messages and exit codes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.db import make_engine, make_sessionmaker, session_scope
from node.models import User
from node.services import users

HRCNET = [sys.executable, "-m", "node"]
INIT = [
    "--city-id",
    "it-padova",
    "--name",
    "Padova",
    "--country",
    "IT",
    "--region",
    "europe-south",
    "--url",
    "http://127.0.0.1:5002",
]


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "NODE_DATABASE_URL"}
    environ.update(env or {})
    return subprocess.run(
        [*HRCNET, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
        check=False,
    )


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    target = tmp_path_factory.mktemp("cli") / "padova"
    result = run("init", str(target), *INIT)
    assert result.returncode == 0, result.stderr
    assert "Fingerprint" in result.stdout and "29 core indicators" in result.stdout
    return target


def test_init_creates_a_private_key_and_database(node_dir: Path) -> None:
    key = node_dir / "signing_key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (node_dir / "node.db").is_file() and (node_dir / "node.toml").is_file()


def test_init_refuses_an_existing_node(node_dir: Path) -> None:
    result = run("init", str(node_dir), *INIT)
    assert result.returncode == 1
    assert "already holds an hrcnet node" in result.stderr


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--city-id", "Not_Valid", "city id"),
        ("--country", "ITA", "ISO 3166-1"),
        ("--url", "not a url", "URL"),
    ],
)
def test_init_refuses_bad_settings_and_leaves_nothing(
    tmp_path: Path, flag: str, value: str, message: str
) -> None:
    args = list(INIT)
    args[args.index(flag) + 1] = value
    result = run("init", str(tmp_path / "n"), *args)
    assert result.returncode == 1 and message in result.stderr
    assert not (tmp_path / "n").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_user_token_and_wrong_inputs(node_dir: Path) -> None:
    created = run(
        "user",
        "add",
        str(node_dir),
        "--email",
        "ana@padova.it",
        "--role",
        "official",
        stdin="a long enough password\n",
    )
    assert created.returncode == 0, created.stderr
    token = run("token", "create", str(node_dir), "--email", "ana@padova.it")
    assert token.returncode == 0
    assert token.stdout.strip().splitlines()[-1].startswith("hrc_")
    again = run(
        "user",
        "add",
        str(node_dir),
        "--email",
        "ana@padova.it",
        "--role",
        "official",
        stdin="a long enough password\n",
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    bad_role = run(
        "user",
        "add",
        str(node_dir),
        "--email",
        "x@padova.it",
        "--role",
        "king",
        stdin="a long enough password\n",
    )
    assert bad_role.returncode == 1 and "role" in bad_role.stderr
    short = run(
        "user", "add", str(node_dir), "--email", "y@padova.it", "--role", "viewer", stdin="short\n"
    )
    assert short.returncode == 1 and "password" in short.stderr
    nobody = run("token", "create", str(node_dir), "--email", "nobody@padova.it")
    assert nobody.returncode == 1 and "no user" in nobody.stderr


def test_commands_on_a_missing_node(tmp_path: Path) -> None:
    result = run("token", "create", str(tmp_path / "nothing"), "--email", "a@b.c")
    assert result.returncode == 1 and "not an hrcnet node" in result.stderr


def test_import_export_round_trip_and_bad_file(node_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "figures.csv"
    good.write_text(
        "indicator,period,value,status,SEX\n"
        "HRC-HOU-01,2024,12.50,published,\n"
        "HRC-HOU-01,2024,13.25,published,F\n",
        encoding="utf-8",
    )
    imported = run("import", str(node_dir), str(good))
    assert imported.returncode == 0, imported.stderr
    assert "Imported 2 results" in imported.stdout
    exported = run("export", str(node_dir), "--format", "csv", "--indicator", "HRC-HOU-01")
    assert exported.returncode == 0
    assert "HRC-HOU-01,2024,12.50" in exported.stdout and "13.25" in exported.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("indicator,period,value\nHRC-NOPE,2024,1\nHRC-HOU-01,20x4,1\n")
    refused = run("import", str(node_dir), str(bad))
    assert refused.returncode == 1
    assert "nothing was imported" in refused.stderr and "HRC-NOPE" in refused.stderr
    garbage = tmp_path / "garbage.xlsx"
    garbage.write_bytes(b"PK\x03\x04 not really a workbook")
    assert run("import", str(node_dir), str(garbage)).returncode == 1
    sdmx = run("export", str(node_dir), "--format", "sdmx-json")
    assert sdmx.returncode == 0 and '"dataSets"' in sdmx.stdout


def test_members_rekey_refuses_a_weak_key_readably(tmp_path: Path, shared_dir: Path) -> None:
    from datetime import UTC, datetime

    from federation.keys import b64encode_unpadded, generate_signing_key
    from node.config import load_config
    from node.db import make_engine, make_sessionmaker, session_scope
    from node.network.models import Peer

    target = tmp_path / "secretariat"
    args = [*INIT, "--role", "secretariat"]
    args[args.index("--city-id") + 1] = "hrc-secretariat"
    assert run("init", str(target), *args).returncode == 0
    # A member (as admission leaves it; its own node is not needed here).
    engine = make_engine(load_config(target).database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        session.add(
            Peer(
                city_id="fr-lyon",
                name="Lyon",
                base_url="http://127.0.0.1:5105",
                role="city",
                state="active",
                requested_at=datetime(2026, 3, 1, tzinfo=UTC),
                failures=0,
                unavailable=False,
                pulled_seq=0,
            )
        )
    engine.dispose()
    zero = b64encode_unpadded(bytes(32))
    refused = run("members", "rekey", str(target), "fr-lyon", zero)
    assert refused.returncode == 1
    assert "Refused the new key for fr-lyon" in refused.stderr
    assert "small order" in refused.stderr and "Traceback" not in refused.stderr
    garbage = run("members", "rekey", str(target), "fr-lyon", "not base64!")
    assert garbage.returncode == 1 and "Not an Ed25519 public key" in garbage.stderr
    new_key = generate_signing_key()
    accepted = run("members", "rekey", str(target), "fr-lyon", new_key.public_b64)
    assert accepted.returncode == 0, accepted.stderr
    assert new_key.key_id in accepted.stdout


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("kx8#Tq2mWv9", "11 characters"),
        ("aaaaaaaaaaaa", "one character repeated"),
        ("password1234", "on the common list"),
        ("Padova2024!!", "the city's name with trivial additions"),
        ("lea@padova.it!!", "contains the e-mail"),
        ("123456789012", "a sequence"),
    ],
)
def test_user_add_refuses_weak_passwords(node_dir: Path, password: str, why: str) -> None:
    refused = run(
        "user", "add", str(node_dir), "--email", "lea@padova.it", "--role", "viewer",
        stdin=password + "\n",
    )  # fmt: skip
    assert refused.returncode == 1, why
    assert "password" in refused.stderr and "Traceback" not in refused.stderr
    assert password not in refused.stderr  # never echoed
    with _node_db(node_dir) as session:
        assert session.scalar(select(User).where(User.email == "lea@padova.it")) is None


def test_user_add_accepts_twelve_good_characters(node_dir: Path) -> None:
    created = run(
        "user", "add", str(node_dir), "--email", "ugo@padova.it", "--role", "viewer",
        stdin="kx8#Tq2mWv9p\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr


def test_user_passwd_changes_the_password_and_ends_sessions(node_dir: Path) -> None:
    created = run(
        "user", "add", str(node_dir), "--email", "eva@padova.it", "--role", "official",
        stdin="the first long passphrase\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    weak = run("user", "passwd", str(node_dir), "--email", "eva@padova.it", stdin="short\n")
    assert weak.returncode == 1 and "password" in weak.stderr
    nobody = run(
        "user", "passwd", str(node_dir), "--email", "nobody@padova.it",
        stdin="the second long passphrase\n",
    )  # fmt: skip
    assert nobody.returncode == 1 and "no user" in nobody.stderr
    with _node_db(node_dir) as session:
        before = session.scalar(select(User).where(User.email == "eva@padova.it"))
        assert before is not None
        version_before = before.session_version

    changed = run(
        "user", "passwd", str(node_dir), "--email", "eva@padova.it",
        stdin="the second long passphrase\n",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "eva@padova.it" in changed.stdout
    with _node_db(node_dir) as session:
        after = session.scalar(select(User).where(User.email == "eva@padova.it"))
        assert after is not None and after.session_version == version_before + 1
        assert users.authenticate(session, "eva@padova.it", "the second long passphrase")
        assert users.authenticate(session, "eva@padova.it", "the first long passphrase") is None


@contextmanager
def _node_db(node_dir: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{node_dir / 'node.db'}")
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


def test_hostile_json_files_and_arguments_get_a_message_not_a_traceback(
    node_dir: Path, tmp_path: Path
) -> None:
    figures = tmp_path / "figures.csv"
    figures.write_text("indicator,period,value\nHRC-HOU-01,2024,1\n", encoding="utf-8")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000, encoding="utf-8")
    refused = run(
        "import", str(node_dir), str(figures), "--layout", "open-sdg", "--profile", str(deep)
    )
    assert refused.returncode == 1
    assert "64 levels" in refused.stderr and "Traceback" not in refused.stderr
    nul = tmp_path / "nul.json"
    nul.write_text('{"source": "a\\u0000b"}', encoding="utf-8")
    refused = run(
        "import", str(node_dir), str(figures), "--layout", "open-sdg", "--profile", str(nul)
    )
    assert refused.returncode == 1
    assert "NUL" in refused.stderr and "Traceback" not in refused.stderr
    # An undecodable byte in an argument reaches Python as a lone surrogate (surrogateescape).
    refused = run("import", str(node_dir), str(figures), "--as", "x\udcff@example.org")
    assert refused.returncode == 1
    assert "surrogate" in refused.stderr and "Traceback" not in refused.stderr
    exported = run("export", str(node_dir), "--format", "csv", "--indicator", "HRC-HOU-01")
    assert "HRC-HOU-01,2024,1\n" not in exported.stdout  # nothing was imported by the above
