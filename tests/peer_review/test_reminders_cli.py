"""``hrcnet job run DATA_DIR deadline_sweep`` as a real process, mailing a real local server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node.db import make_engine, make_sessionmaker, session_scope
from node.services import users
from node.setup import init_node
from peer_review import deadlines
from tests.cli.test_cli import run
from tests.conftest import NODE_ARGS
from tests.peer_review.conftest import MAIL_FROM, LocalSmtp


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    target = tmp_path_factory.mktemp("jobs") / "gent"
    init_node(target, database_url=None, **NODE_ARGS)
    engine = make_engine(f"sqlite:///{target / 'node.db'}")
    now = datetime.now(UTC)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            users.create_user(
                session,
                email="ana@gent.example",
                password="correct horse battery",
                role="official",
                now=now,
            )
            deadlines.arm(
                session,
                subject="review:1",
                kind="response",
                due_at=now - timedelta(hours=1),
                now=now - timedelta(weeks=8),
                title="Respond to the recommendations",
                link="/reviews/1",
                roles=["official"],
            )
    finally:
        engine.dispose()
    return target


def test_job_list_names_the_sweep() -> None:
    result = run("job", "list")
    assert result.returncode == 0
    assert "deadline_sweep" in result.stdout and "every  300 s" in result.stdout


def test_job_run_mails_once(node_dir: Path, smtp: LocalSmtp) -> None:
    env = {
        "NODE_SMTP_HOST": smtp.host,
        "NODE_SMTP_PORT": str(smtp.port),
        "NODE_MAIL_FROM": MAIL_FROM,
    }
    first = run("job", "run", str(node_dir), "deadline_sweep", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("deadline_sweep: 1 deadlines looked at, 1 in-app notifications")
    assert f"e-mail through SMTP 127.0.0.1:{smtp.port}: 1 sent" in first.stdout
    assert smtp.take() == [("ana@gent.example", "[Gent] Due now: Respond to the recommendations")]
    again = run("job", "run", str(node_dir), "deadline_sweep", env=env)
    assert again.returncode == 0 and "0 in-app notifications" in again.stdout
    assert smtp.take() == []


def test_job_run_explains_mistakes(node_dir: Path, tmp_path: Path) -> None:
    unknown = run("job", "run", str(node_dir), "sweep_everything")
    assert unknown.returncode == 1
    assert "No job 'sweep_everything'. Jobs: " in unknown.stderr
    assert "deadline_sweep" in unknown.stderr
    missing = run("job", "run", str(tmp_path / "nowhere"), "deadline_sweep")
    assert missing.returncode == 1 and "run 'hrcnet init' first" in missing.stderr
    no_sender = run(
        "job", "run", str(node_dir), "deadline_sweep", env={"NODE_SMTP_HOST": "127.0.0.1"}
    )
    assert no_sender.returncode == 1
    assert "mail_from: mail_from is needed when smtp_host is set" in no_sender.stderr
    bad_sender = run(
        "job",
        "run",
        str(node_dir),
        "deadline_sweep",
        env={"NODE_SMTP_HOST": "127.0.0.1", "NODE_MAIL_FROM": "a@x.example, b@y.example"},
    )
    assert bad_sender.returncode == 1 and "is not an e-mail address" in bad_sender.stderr
    assert "Traceback" not in no_sender.stderr + bad_sender.stderr + unknown.stderr
