"""A real ``hrcnet serve``: a worker grown by a load gives its memory back once idle (issue 14).

With ``worker_recycle_idle_seconds = 2`` and ``worker_recycle_growth_mb = 1`` (a load grows a
worker by more than 1 MB of private memory), a worker that served a load is replaced by a fresh
fork of the arbiter after 2 s without a request; the scheduler is not; the node answers exactly
as before; and workers that serve nothing are not replaced (no churn on an idle node).
"""

from __future__ import annotations

import time

import pytest

from tests.multinode.harness import NodeFactory
from tests.multinode.test_multinode_server_fork import children, cmdline, wait_for

pytestmark = pytest.mark.multinode

RECYCLE = {"NODE_WORKER_RECYCLE_IDLE_SECONDS": "2", "NODE_WORKER_RECYCLE_GROWTH_MB": "1"}


def test_workers_grown_by_a_load_are_replaced_once_idle(node_factory: NodeFactory) -> None:
    [gent] = node_factory("be-gent", workers=2, extra_env=RECYCLE)
    assert gent.process is not None
    arbiter = gent.process.pid

    def scheduler() -> list[int]:
        return [pid for pid in children(arbiter) if " scheduler " in f" {cmdline(pid)} "]

    def workers() -> set[int]:
        return {pid for pid in children(arbiter) if pid not in scheduler()}

    wait_for(lambda: len(workers()) == 2 and len(scheduler()) == 1, "2 workers + 1 scheduler", gent)
    before, [job_runner] = workers(), scheduler()
    answers = {}
    for path in ("/api/v1/progress", "/", "/healthz") * 10:  # a load (one keep-alive connection)
        response = gent.api("GET", path)
        assert response.status_code == 200, gent.fail(f"{path} answered {response.status_code}")
        answers[path] = response.content if path != "/" else response.status_code
    # The worker that served them (a keep-alive connection: one of the two) is replaced by a
    # fresh fork once idle; a worker that served nothing is not.
    wait_for(
        lambda: workers() != before and len(workers()) == 2,
        "the loaded worker replaced by a fresh fork",
        gent,
    )
    assert scheduler() == [job_runner], gent.fail("the scheduler was replaced")
    fresh = workers()
    for path in ("/api/v1/progress", "/", "/healthz") * 2:
        response = gent.api("GET", path)
        assert response.status_code == 200, gent.fail(f"{path} answered {response.status_code}")
        if path != "/":
            assert response.content == answers[path]
    # The new workers served a little (and may be replaced once more for it, with a 1 MB
    # threshold); workers that served nothing since their fork are never replaced: an idle node
    # does not churn.
    time.sleep(2 * 2 + 1)
    settled = workers()
    time.sleep(2 * 2 + 1)
    assert workers() == settled, gent.fail("idle workers replaced again without a request")
    assert len(settled) == 2 and fresh
