"""``hrcnet demo``'s promises that need no running network: ports, reuse, reset, log filter,
and the ``source`` of sample summaries (the whole network runs in tests/multinode/test_demo.py).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli import main
from node.demo.driver import DemoError
from node.demo.network import choose_ports
from node.demo.run import meaningful
from schemas.summary import SummaryPayloadSchema


def test_a_busy_port_is_named_with_the_option_to_avoid_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DemoError) as refused:
            choose_ports(5, port - 2)  # the busy port is the third of the block
    message = str(refused.value)
    assert f"Port {port}" in message and "--port-base" in message


def test_a_free_block_is_used_as_given() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
    # (a race with another process is possible in theory; the kernel hands out ports upwards)
    assert choose_ports(1, base) == [base]


def test_a_directory_that_is_not_a_demo_network_is_never_deleted(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    data.mkdir()
    (data / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["demo", "--data-dir", str(data)])
    assert result.exit_code == 1, result.output
    assert "--reset" in result.output
    result = CliRunner().invoke(main, ["demo", "--data-dir", str(data), "--reset", "--yes"])
    assert result.exit_code == 1 and "nothing was deleted" in result.output, result.output
    assert (data / "notes.txt").read_text() == "mine"


def test_reset_asks_and_a_no_keeps_everything(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    data.mkdir()
    (data / "network.json").write_text(json.dumps([]))
    (data / ".complete").write_text("built\n")
    (data / "entered.txt").write_text("a value a user entered")
    result = CliRunner().invoke(main, ["demo", "--data-dir", str(data), "--reset"], input="n\n")
    assert "Delete the demo network" in result.output
    assert "Nothing was deleted." in result.output and result.exit_code == 1
    assert (data / "entered.txt").is_file() and (data / "network.json").is_file()


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("2026-12-06 13:41:11,323 scheduler deliver_outbox: delivered 1, dead letters 0", True),
        (
            "2026-12-06 13:41:01,421 scheduler discover_peers: 0 twinning requests sent, 0 failed",
            False,
        ),
        ("2026-12-06 13:41:11,285 scheduler publish_benchmarks: not a secretariat", False),
        ('127.0.0.1 - - [x] "GET /api/v1/reviews/ab/events HTTP/1.1" 200 471 "-" "r"', False),
        ('127.0.0.1 - - [x] "POST /federation/v1/inbox HTTP/1.1" 202 12 "-" "r"', True),
        ('127.0.0.1 - - [x] "GET /dashboard HTTP/1.1" 500 12 "-" "r"', True),
        ("2026-12-06 13:41:01,421 ERROR something broke", True),
        # The same events in the node's structured log lines (node/ops/logs.py).
        (
            "2026-12-06T13:41:11.323Z INFO node.jobs job run job=deliver_outbox seconds=0.02 "
            'result="delivered 1, dead letters 0"',
            True,
        ),
        (
            "2026-12-06T13:41:11.323Z DEBUG node.jobs job run job=publish_benchmarks "
            'seconds=0.001 result="not a secretariat"',
            False,
        ),
    ],
)
def test_quiet_logs_show_one_line_per_meaningful_event(line: str, shown: bool) -> None:
    assert meaningful(line) is shown


def _payload(**extra: object) -> dict[str, object]:
    return {
        "city": {"city_id": "be-gent", "name": "Gent", "country": "BE", "region": "europe-west"},
        "period": "2020",
        "revision": 1,
        "indicators": [],
        **extra,
    }


def test_summary_source_is_optional_and_says_sample() -> None:
    schema = SummaryPayloadSchema()
    assert schema.load(_payload())["source"] is None  # older summaries stay valid
    assert schema.load(_payload(source="sample"))["source"] == "sample"
