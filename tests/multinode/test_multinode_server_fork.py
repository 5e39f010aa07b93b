"""A real ``hrcnet serve`` (2 gunicorn workers + the scheduler), app preloaded in the arbiter
(issue 14: memory): workers and the scheduler are forked from the arbiter, which keeps no
database connection, so none is ever shared by two processes, not even by a worker gunicorn
starts later to replace one that died."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.multinode.harness import NodeFactory, NodeProcess

pytestmark = pytest.mark.multinode

WAIT_S = 20.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return sorted(set(found))


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def database_files_open(pid: int, data_dir: Path) -> list[str]:
    """The node's SQLite files (``node.db``, ``-wal``, ``-shm``) that ``pid`` has open."""
    database = str(data_dir.resolve() / "node.db")
    opened = []
    for link in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(link)
        except OSError:
            continue
        if target.startswith(database):
            opened.append(target)
    return sorted(opened)


def wait_for(predicate: object, what: str, node: NodeProcess) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(node.fail(f"not within {WAIT_S:.0f} s: {what}"))
        time.sleep(0.1)


def test_no_database_connection_crosses_a_fork(node_factory: NodeFactory) -> None:
    [gent] = node_factory("be-gent", workers=2)
    assert gent.process is not None
    arbiter = gent.process.pid
    for path in ("/", "/api/v1/progress", "/healthz") * 8:  # both workers read the database
        response = gent.api("GET", path)
        assert response.status_code == 200, gent.fail(f"{path} answered {response.status_code}")

    def scheduler() -> list[int]:
        return [pid for pid in children(arbiter) if " scheduler " in f" {cmdline(pid)} "]

    wait_for(
        lambda: len(children(arbiter)) == 3 and len(scheduler()) == 1,
        "2 workers + 1 scheduler",
        gent,
    )
    [job_runner] = scheduler()
    workers = [pid for pid in children(arbiter) if pid != job_runner]
    # The scheduler runs its jobs (deliver_outbox every 5 s) on a connection of its own.
    wait_for(
        lambda: database_files_open(job_runner, gent.data_dir), "the scheduler's connection", gent
    )
    assert any(database_files_open(pid, gent.data_dir) for pid in workers), gent.fail(
        "no worker has the database open after 24 requests"
    )
    # Every child is forked from the arbiter: what it has open it opened itself only if the
    # arbiter holds nothing that a fork could hand over.
    assert database_files_open(arbiter, gent.data_dir) == [], gent.fail(
        "the arbiter holds a connection"
    )

    # A worker that dies is replaced by a new fork of the arbiter: it starts with no connection
    # and serves with one of its own.
    os.kill(workers[0], signal.SIGKILL)
    wait_for(
        lambda: workers[0] not in children(arbiter) and len(children(arbiter)) == 3,
        "a replacement worker",
        gent,
    )
    [replacement] = [pid for pid in children(arbiter) if pid not in (job_runner, workers[1])]
    assert database_files_open(replacement, gent.data_dir) == [], gent.fail(
        "the new worker started with the database open"
    )
    for _ in range(8):
        assert gent.api("GET", "/").status_code == 200
    assert database_files_open(arbiter, gent.data_dir) == []
