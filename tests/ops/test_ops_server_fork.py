"""``hrcnet serve`` builds the app once in gunicorn's arbiter and forks the workers and the
scheduler from it (issue 14: memory). No database connection may cross a fork: two processes on
one PostgreSQL socket interleave their messages, and SQLite forbids using a connection in a
child. Real app, real database (SQLite and PostgreSQL), a real ``fork``; the hooks are the ones
gunicorn calls (``node.server.NodeServer``).
"""

from __future__ import annotations

import gc
import os
from typing import Any

import pytest
from sqlalchemy import select

from node.server import NodeServer
from tests.conftest import NodeHandle


def _server_for(node: NodeHandle, monkeypatch: pytest.MonkeyPatch) -> NodeServer:
    if node.database_url:
        monkeypatch.setenv("NODE_DATABASE_URL", node.database_url)
    # No scheduler forked out of the test process by ``when_ready``.
    monkeypatch.setenv("NODE_SCHEDULER", "false")
    return NodeServer(node.data_dir, {})


def _pooled_connection(engine: Any) -> Any:
    """Use a connection once and give it back: it stays open in the pool (as after any
    preload step that read the database). Returns the driver's connection object."""
    with engine.connect() as connection:
        assert connection.execute(select(1)).scalar_one() == 1
        dbapi = connection.connection.dbapi_connection
    assert engine.pool.checkedin() == 1
    return dbapi


def _in_child(run: Any) -> bytes:
    """Run ``run()`` in a forked child; return the bytes it reports (its exception otherwise)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the test process's exit code
        try:
            answer = run()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails
            answer = f"error: {exc!r}".encode()
        try:
            os.write(write_end, answer)
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as reader:
        chunks.append(reader.read())
    os.waitpid(pid, 0)
    return b"".join(chunks)


def test_a_forked_worker_opens_its_own_connection_and_leaves_the_arbiters_alone(
    node: NodeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _server_for(node, monkeypatch)
    app = server.load()
    engine = app.extensions["hrcnet"].engine
    try:
        arbiter_connection = _pooled_connection(engine)

        def worker() -> bytes:
            server._post_fork(None, None)  # what gunicorn calls in each new worker
            with engine.connect() as connection:
                assert connection.execute(select(1)).scalar_one() == 1
                mine = connection.connection.dbapi_connection
            # Inherited, the pool would hand out the arbiter's very object (same address).
            return b"inherited" if mine is arbiter_connection else b"own"

        assert _in_child(worker) == b"own"
        # The child forgot the arbiter's connection without closing it: on PostgreSQL a close
        # would have ended the arbiter's session on the server.
        with engine.connect() as connection:
            assert connection.connection.dbapi_connection is arbiter_connection
            assert connection.execute(select(1)).scalar_one() == 1
    finally:
        engine.dispose()


def test_the_arbiter_closes_its_connections_before_it_forks_anything(
    node: NodeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _server_for(node, monkeypatch)
    app = server.load()
    engine = app.extensions["hrcnet"].engine
    try:
        arbiter_connection = _pooled_connection(engine)
        server._when_ready(None)  # gunicorn calls it after the preload, before the first fork
        assert engine.pool.checkedin() == 0
        with engine.connect() as connection:  # a new one, the old is closed
            assert connection.connection.dbapi_connection is not arbiter_connection
            assert connection.execute(select(1)).scalar_one() == 1
        assert server.scheduler_pid is None  # scheduler = false: nothing forked
    finally:
        gc.unfreeze()  # _when_ready froze this test process's objects
        engine.dispose()
