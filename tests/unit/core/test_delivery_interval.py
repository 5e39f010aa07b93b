"""``delivery_interval_seconds``: how often the scheduler runs the jobs that send.

Unset, every job keeps its own interval. Set, the four jobs that send what waits to be sent
(envelopes, twinning requests, key fetches, benchmark groups) run that often and no other job
changes. The demo network sets 1 s, so its steps follow each other without 5-10 s pauses.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from node.config import ConfigError, NodeConfig, load_config
from node.jobs import JOBS, add_jobs, job_metrics, node_runtime

# The rule, written out: the jobs that send, and each job's own interval (seconds).
SENDING = {"deliver_outbox", "discover_peers", "fetch_peer_keys", "publish_benchmarks"}
OWN_INTERVALS = {
    "checkpoint_wal": 30,
    "discover_peers": 10,
    "fetch_peer_keys": 10,
    "deliver_outbox": 5,
    "pull_peers": 300,
    "publish_benchmarks": 10,
    "deadline_sweep": 300,
    "mentoring_expiry": 3600,
    "print_annual_reports": 300,
}


def _config(template_node: Path, seconds: int | None) -> NodeConfig:
    overrides = {} if seconds is None else {"delivery_interval_seconds": seconds}
    return load_config(template_node, overrides, environ={})


def _scheduled(config: NodeConfig) -> dict[str, float]:
    """The interval of every job as the scheduler holds it (a scheduler never started)."""
    node = node_runtime(config)
    scheduler = BackgroundScheduler(timezone="UTC")
    try:
        add_jobs(scheduler, node, job_metrics())
        return {job.id: job.trigger.interval.total_seconds() for job in scheduler.get_jobs()}
    finally:
        node.engine.dispose()


def test_unset_every_job_keeps_its_own_interval(template_node: Path) -> None:
    assert _scheduled(_config(template_node, None)) == OWN_INTERVALS


@pytest.mark.parametrize("seconds", [1, 2, 300])
def test_set_only_the_sending_jobs_follow_it(template_node: Path, seconds: int) -> None:
    expected = {name: (seconds if name in SENDING else own) for name, own in OWN_INTERVALS.items()}
    assert _scheduled(_config(template_node, seconds)) == expected


def test_every_registered_job_is_in_the_rule() -> None:
    assert set(JOBS) == set(OWN_INTERVALS)
    assert {name for name, entry in JOBS.items() if entry.delivers} == SENDING


@pytest.mark.parametrize("seconds", [0, -1, 301])
def test_outside_one_to_300_seconds_the_node_does_not_start(
    template_node: Path, seconds: int
) -> None:
    with pytest.raises(ConfigError, match="delivery_interval_seconds"):
        _config(template_node, seconds)


def test_the_environment_sets_it(template_node: Path) -> None:
    config = load_config(template_node, environ={"NODE_DELIVERY_INTERVAL_SECONDS": "2"})
    assert config.delivery_interval_seconds == 2


def test_the_demo_nodes_send_every_second() -> None:
    from node.demo.nodes import NODES, demo_settings

    for spec in NODES:
        settings = tomllib.loads("\n".join(demo_settings(spec)))
        assert settings["delivery_interval_seconds"] == 1, spec
