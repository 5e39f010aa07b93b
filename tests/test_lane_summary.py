"""A lane that cannot run on this machine is named at the end of the run, never hidden by green.

Runs pytest itself (a real subprocess) on the one PostgreSQL test of ``test_migrations.py`` with
no server configured: locally it skips and the last lines say so with how to install it; with
``CI`` set the same run fails.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import POSTGRES_ENV, REPO, missing_lanes

TARGET = "tests/test_migrations.py::test_migrations_postgresql"


def _run(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (POSTGRES_ENV, "CI")}
    if ci:
        env["CI"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TARGET],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_locally_a_skipped_postgres_lane_is_announced_last() -> None:
    run = _run(ci=False)
    assert run.returncode == 0, run.stdout + run.stderr
    tail = run.stdout.strip().splitlines()
    banner = next(i for i, line in enumerate(tail) if "LANES THAT DID NOT RUN" in line)
    # After the final "1 skipped" count, so it is what the developer reads last.
    assert any("1 skipped" in line for line in tail[:banner])
    assert "NOT TESTED: the PostgreSQL lane (1 skipped)" in run.stdout
    assert "apt-get install postgresql" in run.stdout


def test_in_ci_the_postgres_lane_fails_instead() -> None:
    run = _run(ci=True)
    assert run.returncode != 0
    assert "CI must run the PostgreSQL lane" in run.stdout
    assert "LANES THAT DID NOT RUN" not in run.stdout


def _skip(reason: str) -> pytest.TestReport:
    return pytest.TestReport(
        "tests/x.py::t", ("tests/x.py", 1, "t"), {}, "skipped", ("tests/x.py", 1, reason), "setup"
    )


def test_the_browser_lane_and_unrelated_skips_are_told_apart() -> None:
    reports = [
        _skip("Skipped: /usr/bin/chromium not found: apt-get install chromium (no browser ...)"),
        _skip("Skipped: /usr/bin/chromium not found: apt-get install chromium (no browser ...)"),
        _skip(f"Skipped: {POSTGRES_ENV} not set (make test starts a server ...)"),
        _skip("Skipped: SQLite lets one writer at a time"),
    ]
    lanes = missing_lanes(reports)
    assert {lane: count for lane, (count, _how) in lanes.items()} == {
        "browser lane": 2,
        "PostgreSQL lane": 1,
    }
    assert "apt-get install chromium" in lanes["browser lane"][1]
    assert missing_lanes([_skip("Skipped: SQLite lets one writer at a time")]) == {}
