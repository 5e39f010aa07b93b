"""Shared fixtures: a fresh node per test (SQLite, and PostgreSQL when configured), users with
tokens, an injectable clock, and a guard that fails any test reaching beyond loopback."""

from __future__ import annotations

import gc
import ipaddress
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings

from node.app import create_app
from node.db import session_scope
from node.setup import init_node
from tests.support import MUTATE_MAX_EXAMPLES, MUTATE_PROFILE, Caller, Clock

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
POSTGRES_ENV = "NODE_TEST_POSTGRES_URL"

# Hypothesis profiles: the default one for every lane, and a light one for `make mutate`
# (scripts/mutate.py sets HYPOTHESIS_PROFILE=mutate): few derandomised examples, no example
# database, no deadline (a mutant may be slow without being wrong). Property tests take their
# budget from tests.support.examples(), which the profile caps.
settings.register_profile(
    MUTATE_PROFILE,
    max_examples=MUTATE_MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The design's shared material; CI has it beside the checkout. Missing = failure."""
    if not (SHARED / "data" / "indicator_catalogue.json").is_file():
        pytest.fail(f"{SHARED} is missing: tests need ../shared beside the checkout")
    return SHARED


# --- no traffic beyond loopback ---------------------------------------------------------------


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # AF_UNIX paths
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    original_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise AssertionError(f"test tried to reach {address!r}: only loopback is allowed")
        return original_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


# --- clock -------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


# --- nodes -------------------------------------------------------------------------------------

NODE_ARGS = {
    "city_id": "be-gent",
    "name": "Gent",
    "country": "BE",
    "region": "europe-west",
    "base_url": "http://127.0.0.1:5001",
}


@pytest.fixture(scope="session")
def template_node(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    """One initialised SQLite node, copied for every test (migrating per test is slow)."""
    target = tmp_path_factory.mktemp("template") / "node"
    init_node(target, database_url=None, **NODE_ARGS)
    return target


@dataclass
class PostgresServer:
    admin_url: str

    def create_database(self) -> str:
        import psycopg

        name = f"hrc_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url.replace("+psycopg", ""), autocommit=True) as conn:
            if _sessions_attached(conn, name):
                # A connection a test left checked out (a streamed response it never closed) is
                # handed back by the garbage collector's finalizer, which rolls it back and, once
                # the database is gone, logs the failure with its traceback. Python 3.11 draws
                # that traceback's carets with ast.parse, and when the collector happens to run
                # inside another ast.parse (pytest rewriting an import) the nested call breaks the
                # outer one: "SystemError: AST constructor recursion depth mismatch" (CPython
                # gh-106905, pytest #10763) fails an unrelated test. Collect now, while the
                # database still answers the rollback.
                gc.collect()
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sessions_attached(conn: Any, database: str) -> bool:
    """Whether any server session other than ``conn``'s is connected to ``database``."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    ).fetchone()
    return bool(row and row[0])


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set: CI must run the PostgreSQL lane")
        pytest.skip(
            f"{POSTGRES_ENV} not set (make test starts a server when PostgreSQL is installed)"
        )
    return PostgresServer(url)


@pytest.fixture
def federation_backend(request: pytest.FixtureRequest) -> str:
    """The database every node of the in-process ``network`` fixture (tests/federation) runs
    on: SQLite unless a test parametrises it (here, so modules that import ``network`` get it)."""
    backend: str = getattr(request, "param", "sqlite")
    return backend


@dataclass
class NodeHandle:
    data_dir: Path
    database_url: str | None
    backend: str


def _params() -> list[Any]:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=_params())
def node(
    request: pytest.FixtureRequest, tmp_path: Path, template_node: Path
) -> Iterator[NodeHandle]:
    """A fresh node: SQLite (copied template) and, as a second run, PostgreSQL."""
    if request.param == "sqlite":
        target = tmp_path / "node"
        shutil.copytree(template_node, target)
        yield NodeHandle(target, None, "sqlite")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    try:
        target = tmp_path / "node"
        init_node(target, database_url=url, **NODE_ARGS)
        yield NodeHandle(target, url, "postgresql")
    finally:
        server.drop_database(url)


@pytest.fixture
def app(node: NodeHandle, clock: Clock) -> Iterator[Flask]:
    overrides: dict[str, Any] = {"clock": clock}
    if node.database_url:
        overrides["database_url"] = node.database_url
    application = create_app(node.data_dir, overrides)
    application.config.update(TESTING=True)
    yield application
    application.extensions["hrcnet"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db(app: Flask) -> Callable[[], Any]:
    """``with db() as session:`` — a committed unit of work on the test node."""
    runtime = app.extensions["hrcnet"]
    return lambda: session_scope(runtime.sessions)


@pytest.fixture
def create_user(app: Flask, clock: Clock) -> Callable[..., Caller]:
    """Factory: ``create_user("official")`` → a user with a fresh API token."""
    from node.services import users

    counter = iter(range(1_000_000))

    def make(
        role: str = "official", email: str | None = None, password: str = "correct horse battery"
    ) -> Caller:
        email = email or f"{role}{next(counter)}@example.org"
        with session_scope(app.extensions["hrcnet"].sessions) as session:
            user = users.create_user(
                session, email=email, password=password, role=role, now=clock(), node_role="city"
            )
            token = users.create_token(session, user, now=clock())
        return Caller(email, role, token, password)

    return make


@pytest.fixture
def official(create_user: Callable[..., Caller]) -> Caller:
    return create_user("official")


@pytest.fixture
def admin(create_user: Callable[..., Caller]) -> Caller:
    return create_user("admin")


# --- lanes that could not run say so at the end ----------------------------------------------

# A skip whose reason names one of these is a whole lane that did not run on this machine. With
# ``CI`` set the fixtures fail instead (above, and ``tests/browser/conftest.py``); locally they
# skip, and a green run must not hide that: the summary below says which lane and how to get it.
MISSING_LANES = {
    POSTGRES_ENV: (
        "PostgreSQL lane",
        "install PostgreSQL (apt-get install postgresql) and run `make test` "
        "(scripts/with-postgres.sh starts a throwaway server), or set "
        f"{POSTGRES_ENV}=postgresql+psycopg://user@127.0.0.1:PORT/postgres",
    ),
    "chromium not found": (
        "browser lane",
        "apt-get install chromium (Debian's /usr/bin/chromium; no browser is downloaded)",
    ),
}


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr or "")


def missing_lanes(skipped: list[pytest.TestReport]) -> dict[str, tuple[int, str]]:
    """Lanes whose tests were skipped for a missing server or browser: name → (count, how)."""
    found: dict[str, tuple[int, str]] = {}
    for report in skipped:
        reason = _skip_reason(report).lower()
        for needle, (lane, how) in MISSING_LANES.items():
            if needle.lower() in reason:
                count, _ = found.get(lane, (0, how))
                found[lane] = (count + 1, how)
    return found


def pytest_unconfigure(config: pytest.Config) -> None:
    """Say loudly, after the final count line, which lanes did not run (locally; CI fails)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or hasattr(config, "workerinput"):  # xdist workers: the controller says it
        return
    lanes = missing_lanes(list(reporter.stats.get("skipped", [])))
    if not lanes:
        return
    reporter.section("LANES THAT DID NOT RUN", sep="!", red=True, bold=True)
    for lane, (count, how) in sorted(lanes.items()):
        reporter.write_line(
            f"NOT TESTED: the {lane} ({count} skipped) - to run it: {how}", red=True, bold=True
        )
    reporter.write_line(
        "This green run does not cover those lanes; with CI=1 they fail instead of skipping.",
        red=True,
        bold=True,
    )


# Lanes whose modules start real processes (nodes, Chromium) behind module- or session-scoped
# fixtures. `make test` runs `-n 2 --dist loadfile --no-loadscope-reorder`: each test file is one
# unit of work kept on one worker (under plain `load` xdist split a module's tests between the two
# workers and both started the same processes: the axe crawl and the demo network ran twice), and
# these lanes are collected first, so their long modules start at once instead of ending the run
# on one busy worker while the other idles. (`--dist loadgroup` would group only these modules,
# but with pytest 9 it groups nothing: measured on a four-test module.)
PROCESS_LANES = ("browser", "multinode")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the process lanes' tests first, each file's tests kept together (see PROCESS_LANES)."""
    tests_dir = Path(__file__).resolve().parent

    def lane_rank(item: pytest.Item) -> int:
        try:
            relative = item.path.relative_to(tests_dir)
        except ValueError:
            return 1
        return 0 if relative.parts and relative.parts[0] in PROCESS_LANES else 1

    items.sort(key=lane_rank)  # stable: the order within each group is pytest's own
