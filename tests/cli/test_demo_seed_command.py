"""``hrcnet demo init-network | init-node | seed``: the table, one node's own initialisation, and
the seed's readable refusals (exit codes of docs/cli.md). The seeding of real nodes is covered by
``tests/multinode/test_demo_seed_postgres.py`` and ``hrcnet demo --check``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from node.cli import main
from node.config import load_config
from node.db import make_engine, make_sessionmaker, session_scope
from node.demo.driver import kernel_free_port
from node.demo.nodes import NODES, STAFF_ROLES
from node.models import User
from node.runtime import utcnow
from node.services import users

UNREACHABLE_BOUND_S = 30.0


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def init_network(path: Path, data_root: Path, *extra: str) -> Any:
    ports = sorted(kernel_free_port() for _ in NODES)  # nothing listens there
    return invoke(
        "demo", "init-network", str(path), "--data-root", str(data_root),
        "--url-template", "http://127.0.0.1:{port}", "--port-base", str(ports[0]), *extra,
    )  # fmt: skip


def test_init_network_writes_fresh_logins_with_tokens_for_staff_only(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert init_network(first, tmp_path / "data").exit_code == 0
    assert init_network(second, tmp_path / "data").exit_code == 0
    assert first.stat().st_mode & 0o777 == 0o600
    table_a, table_b = (json.loads(p.read_text()) for p in (first, second))
    assert [row["city_id"] for row in table_a] == [spec.city_id for spec in NODES]
    for row in table_a:
        assert set(row) == {"city_id", "name", "role", "url", "data_dir", "logins"}
        assert row["data_dir"] == str(tmp_path / "data" / row["city_id"])
        for login in row["logins"]:
            assert (login.get("token") is not None) == (login["role"] in STAFF_ROLES), login
            if "token" in login:
                assert users.is_well_formed_token(login["token"])
    passwords = lambda table: {x["password"] for r in table for x in r["logins"]}  # noqa: E731
    assert not passwords(table_a) & passwords(table_b)  # fresh every time


def test_init_network_keeps_an_existing_table(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    assert init_network(path, tmp_path / "data").exit_code == 0
    before = path.read_text()
    again = init_network(path, tmp_path / "elsewhere")
    assert again.exit_code == 0 and "kept (nothing changed)" in again.output
    assert path.read_text() == before  # passwords in use are never replaced


def test_init_network_refuses_a_port_template_without_ports(tmp_path: Path) -> None:
    result = invoke("demo", "init-network", str(tmp_path / "n.json"))
    assert result.exit_code == 2 and "--port-base" in result.output
    assert not (tmp_path / "n.json").exists()


def _user_count(data_dir: Path) -> int:
    config = load_config(data_dir, environ={})
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            return int(session.scalar(select(func.count()).select_from(User)) or 0)
    finally:
        engine.dispose()


def test_init_node_creates_the_tables_logins_once(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    assert init_network(path, tmp_path / "data").exit_code == 0
    [row] = [r for r in json.loads(path.read_text()) if r["city_id"] == "be-gent"]
    done = invoke("demo", "init-node", "--network", str(path), "--city-id", "be-gent")
    assert done.exit_code == 0, done.output
    assert "be-gent: initialised, 6 users created" in done.output
    data_dir = Path(row["data_dir"])
    config = load_config(data_dir, environ={})
    assert config.allow_private_peers and config.sample_data and config.base_url == row["url"]
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            for login in row["logins"]:
                user = users.authenticate(session, login["email"], login["password"])
                assert user is not None and user.role == login["role"], login["email"]
                if "token" in login:
                    by_token = users.user_for_token(session, login["token"], now=utcnow())
                    assert by_token is not None and by_token.email == login["email"]
    finally:
        engine.dispose()
    again = invoke("demo", "init-node", "--network", str(path), "--city-id", "be-gent")
    assert again.exit_code == 0 and "already initialised (kept), 0 users created" in again.output
    assert _user_count(data_dir) == 6


def test_init_node_never_puts_a_nodes_users_into_another_nodes_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    assert init_network(path, tmp_path / "data").exit_code == 0
    assert (
        invoke("demo", "init-node", "--network", str(path), "--city-id", "be-gent").exit_code == 0
    )
    table = json.loads(path.read_text())
    gent_dir = next(r["data_dir"] for r in table if r["city_id"] == "be-gent")
    for row in table:
        if row["city_id"] == "it-padova":
            row["data_dir"] = gent_dir  # a stale or hostile table
    path.write_text(json.dumps(table))
    refused = invoke("demo", "init-node", "--network", str(path), "--city-id", "it-padova")
    assert refused.exit_code == 2 and "holds node be-gent, not it-padova" in refused.output
    assert _user_count(Path(gent_dir)) == 6  # nothing of Padova's written there


def test_init_node_refuses_a_city_not_in_the_table(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    assert init_network(path, tmp_path / "data").exit_code == 0
    refused = invoke("demo", "init-node", "--network", str(path), "--city-id", "fr-lyon")
    assert refused.exit_code == 2 and "no node 'fr-lyon'" in refused.output
    assert not (tmp_path / "data").exists()


def _table(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "good.json"
    assert init_network(path, tmp_path / "data").exit_code == 0
    table: list[dict[str, Any]] = json.loads(path.read_text())
    return table


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: "not json", "not valid JSON"),
        (lambda t: {"nodes": t}, "expected a JSON list"),
        (lambda t: [], "expected a JSON list"),
        (lambda t: t[:-1], "nodes ke-nairobi are missing"),
        (lambda t: [*t, t[0]], "listed twice"),
        (lambda t: [{**t[0], "city_id": "fr-lyon"}, *t[1:]], "'fr-lyon' is not a node"),
        (lambda t: [{**t[0], "url": "ftp://x"}, *t[1:]], "is not an http(s) URL"),
        (lambda t: [{**t[0], "logins": "admin"}, *t[1:]], "'logins' must be a list"),
        (lambda t: [{**t[0], "logins": [{"email": "a@b"}]}, *t[1:]], "'role' must be"),
    ],
)
def test_seed_refuses_a_bad_table_with_exit_2(tmp_path: Path, mutate: Any, message: str) -> None:
    bad = mutate(_table(tmp_path))
    path = tmp_path / "network.json"
    path.write_text(bad if isinstance(bad, str) else json.dumps(bad))
    result = invoke("demo", "seed", "--network", str(path), "--wait", "0")
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_seed_refuses_a_missing_file_with_exit_2(tmp_path: Path) -> None:
    result = invoke("demo", "seed", "--network", str(tmp_path / "none.json"))
    assert result.exit_code == 2 and "no such file" in result.output


def test_seed_names_the_node_that_does_not_answer_with_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    assert init_network(path, tmp_path / "data").exit_code == 0
    started = time.monotonic()
    result = invoke("demo", "seed", "--network", str(path), "--wait", "1")
    assert result.exit_code == 3, result.output
    assert "hrc-secretariat does not answer at http://127.0.0.1:" in result.output
    assert time.monotonic() - started < UNREACHABLE_BOUND_S


def test_a_pre_generated_token_must_look_like_ours() -> None:
    """A short or foreign token would weaken the fast hash's premise (256 random bits)."""
    assert users.is_well_formed_token(users.new_token())
    for bad in ("hrc_short", "xyz_" + "a" * 43, users.new_token() + "!", "hrc_" + "a" * 42 + "!"):
        assert not users.is_well_formed_token(bad), bad


def test_create_token_refuses_a_malformed_pre_generated_token(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    assert init_network(path, tmp_path / "data").exit_code == 0
    assert (
        invoke("demo", "init-node", "--network", str(path), "--city-id", "be-gent").exit_code == 0
    )
    data_dir = tmp_path / "data" / "be-gent"
    engine = make_engine(load_config(data_dir, environ={}).database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            user = users.find_user(session, "viewer@gent.example")
            with pytest.raises(ValueError, match="new_token"):
                users.create_token(session, user, now=utcnow(), token="hrc_weak")
    finally:
        engine.dispose()
