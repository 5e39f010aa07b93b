"""``/metrics`` of a real ``hrcnet serve`` (2 gunicorn workers + the scheduler process): the
counters of every process are summed (prometheus_client's multiprocess mode), and the logs
are JSON lines with ``--log-json``."""

from __future__ import annotations

import json
import time

import pytest

from tests.multinode.harness import NodeFactory

pytestmark = pytest.mark.multinode

CALLS = 12


def samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_metrics_sum_every_process_and_logs_are_json(node_factory: NodeFactory) -> None:
    [gent] = node_factory("be-gent", start=False)
    token = gent.create_user("admin@gent.example", "admin")
    gent.args = (
        "serve", str(gent.data_dir), "--host", "127.0.0.1", "--port", str(gent.port),
        "--workers", "2", "--log-json",
    )  # fmt: skip
    gent.start()
    for _ in range(CALLS):  # spread over both workers by the kernel
        assert gent.api("GET", "/.well-known/hrcnet").status_code == 200

    refused = gent.api("GET", "/metrics")
    assert refused.status_code == 401 and refused.json()["code"] == "metrics_not_allowed"

    def scrape() -> dict[str, float] | None:
        response = gent.api("GET", "/metrics", token=token)
        assert response.status_code == 200, gent.fail(response.text)
        found = samples(response.text)
        # The scheduler (another process) runs deliver_outbox every 5 s.
        ran = found.get('hrcnet_job_duration_seconds_count{job="deliver_outbox",outcome="ok"}')
        return found if ran else None

    deadline = time.monotonic() + 30  # deliver_outbox ticks every 5 s
    found = scrape()
    while found is None and time.monotonic() < deadline:
        time.sleep(0.5)
        found = scrape()
    assert found is not None, gent.fail("no job run of the scheduler in /metrics within 30 s")
    well_known = 'hrcnet_http_requests_total{method="GET",route="/.well-known/hrcnet",status="200"}'
    assert found[well_known] == CALLS

    gent.stop()
    lines = [
        line for line in gent.log_path.read_text().splitlines()
        if line.startswith("{")
    ]  # fmt: skip
    assert lines, gent.fail("no JSON log line")
    for line in lines:
        event = json.loads(line)
        assert {"ts", "level", "logger", "event"} <= set(event)
