"""Logs: one line per event with level and fields (text or JSON); routine job runs at debug
level, failures at error; every run counted in the job metrics."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from node.config import load_config
from node.jobs import Job, node_runtime, run_tick
from node.ops.logs import JsonFormatter, TextFormatter
from node.ops.metrics import job_metrics


def record(message: str, fields: dict, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    made = logging.LogRecord("node.jobs", logging.INFO, __file__, 1, message, None, exc_info)
    made.fields = fields
    return made


def test_text_lines_hold_one_event_whatever_the_values() -> None:
    line = TextFormatter().format(
        record("job run", {"job": "deliver_outbox", "result": 'a "b"\nINFO forged=1'}, exc=True)
    )
    assert "\n" not in line
    assert " INFO node.jobs " in line
    assert "job=deliver_outbox" in line
    assert 'result="a \\"b\\"\\nINFO forged=1"' in line
    # The event itself stays readable (an access log line keeps its quotes), still one line.
    event = TextFormatter().format(record('"GET /x HTTP/1.1" 200\nforged', {}))
    assert event.endswith(' node.jobs "GET /x HTTP/1.1" 200\\nforged')
    assert "exc=" in line and "second line" in line


def test_json_lines_parse_with_their_fields() -> None:
    line = JsonFormatter().format(
        record("job run", {"job": "pull_peers", "seconds": 0.5}, exc=True)
    )
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "info" and parsed["logger"] == "node.jobs"
    assert parsed["event"] == "job run"
    assert (parsed["job"], parsed["seconds"]) == ("pull_peers", 0.5)
    assert "boom" in parsed["exc"]


@pytest.fixture
def runtime(template_node: Path, tmp_path: Path):
    data_dir = tmp_path / "node"
    shutil.copytree(template_node, data_dir)
    node = node_runtime(load_config(data_dir, environ={}))
    yield node
    node.engine.dispose()


def test_routine_runs_log_at_debug_failures_at_error_and_all_are_counted(
    runtime, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = job_metrics()
    ok = Job("tidy", 60, lambda node: "0 delivered", "a routine poll")
    busy = Job("deliver", 60, lambda node: "delivered 2 to it-padova", "did something")

    def broken(node: object) -> str:
        raise RuntimeError("database gone")

    failing = Job("broken", 60, broken, "always fails")
    with caplog.at_level(logging.DEBUG, logger="node.jobs"):
        run_tick(runtime, ok, metrics)
        run_tick(runtime, ok, metrics)
        run_tick(runtime, failing, metrics)
        run_tick(runtime, busy, metrics)
    levels = [(r.levelno, r.fields["job"]) for r in caplog.records if r.name == "node.jobs"]
    assert levels == [
        (logging.DEBUG, "tidy"),
        (logging.DEBUG, "tidy"),
        (logging.ERROR, "broken"),
        (logging.INFO, "deliver"),
    ]
    text = generate_latest(metrics.registry).decode()
    assert 'hrcnet_job_duration_seconds_count{job="tidy",outcome="ok"} 2.0' in text
    assert 'hrcnet_job_duration_seconds_count{job="broken",outcome="error"} 1.0' in text
