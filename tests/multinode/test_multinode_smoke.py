"""Smoke tests of the multi-node harness: real ``hrcnet serve`` processes on 127.0.0.1."""

from __future__ import annotations

import time

import pytest

from tests.multinode.harness import STOP_TIMEOUT_S, NodeFactory, NodeProcess

pytestmark = pytest.mark.multinode

FIGURE = {
    "indicator": "HRC-HOU-01",
    "period": "2025",
    "value": "12.50",
    "disaggregation": {"SEX": "F"},
    "status": "validated",
}


def assert_describes_itself(node: NodeProcess) -> None:
    health = node.api("GET", "/healthz")
    assert health.status_code == 200, node.fail(f"/healthz answered {health.status_code}")
    assert health.json()["status"] == "ok"
    assert health.json()["city_id"] == node.city_id
    meta = node.api("GET", "/.well-known/hrcnet")
    assert meta.status_code == 200, node.fail(f"well-known answered {meta.status_code}")
    body = meta.json()
    assert body["city_id"] == node.city_id, node.fail(f"well-known: {body}")
    assert body["base_url"] == node.base_url
    assert body["federation"] == f"{node.base_url}/federation/v1"


def scheduler_processes(node: NodeProcess) -> list[tuple[int, str]]:
    return [p for p in node.leftover_processes() if " scheduler " in f" {p[1]} "]


def wait_for_scheduler(node: NodeProcess, timeout: float = 10.0) -> list[tuple[int, str]]:
    """The scheduler child is spawned when gunicorn is ready; give it a bounded moment."""
    deadline = time.monotonic() + timeout
    found = scheduler_processes(node)
    while not found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = scheduler_processes(node)
    return found


def test_two_nodes_answer_for_themselves_and_survive_each_other(
    node_factory: NodeFactory,
) -> None:
    gent, padova = node_factory("be-gent", "it-padova")
    assert gent.port != padova.port
    assert_describes_itself(gent)
    assert_describes_itself(padova)

    padova.stop()
    assert not padova.running
    # The survivor keeps answering several times, not only once by luck.
    for _ in range(3):
        assert_describes_itself(gent)


def test_restart_keeps_the_data(node_factory: NodeFactory) -> None:
    [gent] = node_factory("be-gent")
    token = gent.create_user("ana@gent.example", "official")
    created = gent.api("POST", "/api/v1/results", json=FIGURE, token=token)
    assert created.status_code == 201, gent.fail(f"POST results: {created.text}")

    gent.restart()

    assert_describes_itself(gent)
    listed = gent.api("GET", "/api/v1/results?indicator=HRC-HOU-01&period=2025", token=token)
    assert listed.status_code == 200, gent.fail(f"GET results: {listed.text}")
    items = listed.json()["items"]
    assert [{k: item[k] for k in FIGURE} for item in items] == [FIGURE]
    # The CLI works beside the running server too (same data dir, same database).
    assert gent.create_token("ana@gent.example") != token


def test_sigterm_stops_within_limit_and_leaves_no_child(node_factory: NodeFactory) -> None:
    [gent] = node_factory("be-gent")
    schedulers = wait_for_scheduler(gent)
    # Without a live scheduler first, "no scheduler left" below would prove nothing.
    assert len(schedulers) == 1, gent.fail(f"expected exactly one scheduler, saw {schedulers}")

    took = gent.stop()

    assert took < STOP_TIMEOUT_S, gent.fail(f"SIGTERM took {took:.1f} s")
    leftovers = gent.wait_no_leftovers()
    assert leftovers == [], gent.fail(f"processes left behind: {leftovers}")
