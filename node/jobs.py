"""The node's scheduled jobs: one registry, one scheduler process, each job idempotent.

Jobs open their own unit of work, are bounded in time and count, and can be run once from the
CLI (``hrcnet sync``) or from tests.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import text

from node.config import NodeConfig, load_config
from node.db import make_engine, make_sessionmaker
from node.ops.metrics import JobMetrics, job_metrics, observe_job
from node.runtime import NodeRuntime, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: int
    run: Callable[[NodeRuntime], str]
    description: str
    # Sends what waits to be sent: runs every ``delivery_interval_seconds`` when that is set.
    delivers: bool = False

    def interval(self, config: NodeConfig) -> int:
        """Seconds between two runs on a node with ``config``."""
        configured: int | None = config.values.get("delivery_interval_seconds")
        if self.delivers and configured:
            return configured
        return self.every_seconds


JOBS: dict[str, Job] = {}


def job(
    name: str, every_seconds: int, description: str, *, delivers: bool = False
) -> Callable[[Callable[[NodeRuntime], str]], Callable[[NodeRuntime], str]]:
    def register(func: Callable[[NodeRuntime], str]) -> Callable[[NodeRuntime], str]:
        JOBS[name] = Job(name, every_seconds, func, description, delivers)
        return func

    return register


# Often (issue 14): the requests' own commits no longer fold the log back (node.db raised
# their threshold), so this passive checkpoint keeps it short without making a request wait.
@job("checkpoint_wal", 30, "fold SQLite's write-ahead log back into the database file")
def checkpoint_wal(node: NodeRuntime) -> str:
    if node.engine.dialect.name != "sqlite":
        return "not SQLite: nothing to do"
    with node.engine.connect() as connection:
        busy, log_frames, moved = connection.execute(text("PRAGMA wal_checkpoint(PASSIVE)")).one()
    return f"checkpointed {moved}/{log_frames} frames (busy={busy})"


@job(
    "discover_peers",
    10,
    "check queued twinning requests: discover, pin the key, send",
    delivers=True,
)
def discover_peers(node: NodeRuntime) -> str:
    from node.network import peers

    return peers.run_discoveries(node)


@job(
    "fetch_peer_keys",
    10,
    "fetch key documents of peers that signed with a key we lack",
    delivers=True,
)
def fetch_peer_keys(node: NodeRuntime) -> str:
    from node.network import keyfetch

    return keyfetch.run_key_fetches(node)


@job("deliver_outbox", 5, "send queued envelopes to peers (backoff per destination)", delivers=True)
def deliver_outbox(node: NodeRuntime) -> str:
    from node.network import outbox

    return "; ".join(outbox.deliver_outbox(node).lines())


@job("pull_peers", 300, "catch up on what twins addressed to us (after outages)")
def pull_peers(node: NodeRuntime) -> str:
    from node.network import pull

    results = pull.pull_all(node)
    return (
        ", ".join(
            f"{city}: {n} new{' (' + err + ')' if err else ''}"
            for city, (n, err) in results.items()
        )
        or "no twins"
    )


@job(
    "publish_benchmarks", 10, "secretariat: send changed benchmark groups to members", delivers=True
)
def publish_benchmarks(node: NodeRuntime) -> str:
    if node.config.role != "secretariat":
        return "not a secretariat"
    from node.db import session_scope
    from node.secretariat import benchmarks

    with session_scope(node.sessions) as session:
        sent = benchmarks.publish_dirty(session, node.config, node.now())
    return f"benchmarks queued for {sent} members"


@job("deadline_sweep", 300, "remind our users of review and mentoring deadlines; escalate")
def deadline_sweep(node: NodeRuntime) -> str:
    from peer_review import reminders

    return reminders.run_sweep(node.sessions, node.config, node.now()).summary()


@job("mentoring_expiry", 3600, "mentoring: our proposals unanswered for 21 days expire")
def mentoring_expiry(node: NodeRuntime) -> str:
    from node.db import session_scope
    from peer_review.mentoring.jobs import expire_overdue

    with session_scope(node.sessions) as session:
        expired = expire_overdue(session, node.config, node.now())
    return f"{expired} proposals expired"


# The annual report's print run, in a child process: its time budget (no print starts after it;
# each print is itself killed after 60 s), and the bound after which the child is stopped.
PRINT_BUDGET_SECONDS = 240
PRINT_CHILD_TIMEOUT_SECONDS = PRINT_BUDGET_SECONDS + 90
_children: set[subprocess.Popen[str]] = set()
_children_lock = threading.Lock()


def _stop_child(child: subprocess.Popen[str]) -> None:
    """SIGTERM (the child kills its Chromium's process group and exits), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait()


def stop_children() -> None:
    """Stop the jobs' child processes (the scheduler is stopping: none may outlive it)."""
    with _children_lock:
        running = list(_children)
    for child in running:
        _stop_child(child)


@job("print_annual_reports", 300, "portal: print the annual report PDFs whose data changed")
def print_annual_reports(node: NodeRuntime) -> str:
    """Print the annual report PDFs ahead, when what they show changed (docs/operations.md).

    The check is cheap and done here (:func:`node.portal.report.data_stamp`); the print itself
    runs in a child process at low CPU priority, ``hrcnet annual-report DATA_DIR`` (an app to
    render the pages, headless Chromium): the scheduler stays small, requests keep the CPU, and
    a run that hangs is stopped after :data:`PRINT_CHILD_TIMEOUT_SECONDS`. The scheduler runs it one
    at a time; the child's file lock also keeps it from running beside the CLI.
    """
    from node import features
    from node.db import session_scope
    from node.portal import report

    with session_scope(node.sessions) as session:
        stamp = report.data_stamp(session, node.config, features.portal_sources(node.config))
    reason = report.print_due(node.config, stamp, now=node.now())
    if reason is None:
        return "annual reports up to date"
    command = [
        sys.executable, "-m", "node", "annual-report", str(node.config.data_dir),
        "--budget", str(PRINT_BUDGET_SECONDS), "--background",
    ]  # fmt: skip
    # In the scheduler's process group: whoever stops the node's group stops the print too.
    # Chromium runs in a group of its own, which the child kills on any way out.
    child = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with _children_lock:
        _children.add(child)
    try:
        out, err = child.communicate(timeout=PRINT_CHILD_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        _stop_child(child)
        child.communicate()
        return f"{reason}: the print run took over {PRINT_CHILD_TIMEOUT_SECONDS} s and was stopped"
    finally:
        with _children_lock:
            _children.discard(child)
    if child.returncode != 0:
        tail = (err or out).strip().splitlines()[-3:]
        return f"{reason}: the print run failed ({child.returncode}): {' | '.join(tail)}"
    lines = out.strip().splitlines()
    return f"{reason}: {lines[-1] if lines else 'no output'}"


def node_runtime(config: NodeConfig) -> NodeRuntime:
    """The runtime jobs run with: its own engine, and the same handler registry as the app."""
    from node import features

    inbound = features.inbound_registry()
    engine = make_engine(config.database_url)
    return NodeRuntime(config, engine, make_sessionmaker(engine), utcnow, inbound=inbound)


def run_job_once(node: NodeRuntime, name: str) -> str:
    return JOBS[name].run(node)


def run_tick(node: NodeRuntime, entry: Job, metrics: JobMetrics) -> None:
    """One scheduled run of ``entry``: timed, counted, logged (routine runs at debug level, runs
    that did something at info, failures at error, runs longer than their interval at
    warning)."""
    started = time.perf_counter()
    try:
        result = entry.run(node)
    except Exception:  # one failing run must not stop the scheduler
        observe_job(metrics, entry.name, "error", started)
        log.exception("job failed", extra={"fields": {"job": entry.name}})
        return
    observe_job(metrics, entry.name, "ok", started)
    seconds = round(time.perf_counter() - started, 3)
    fields = {"job": entry.name, "seconds": seconds, "result": result}
    # A run that did something names a count above zero ("delivered 2"); one that found
    # nothing to do is a routine poll, at debug level (dozens a minute otherwise).
    did_something = re.search(r"\b[1-9]\d*\b", result) is not None
    level = logging.INFO if did_something else logging.DEBUG
    if seconds > entry.interval(node.config):
        level = logging.WARNING
    log.log(level, "job run", extra={"fields": fields})


def add_jobs(scheduler: BaseScheduler, node: NodeRuntime, metrics: JobMetrics) -> None:
    """Every registered job on ``scheduler``, each on its interval for ``node``'s configuration."""
    for entry in JOBS.values():
        scheduler.add_job(
            run_tick,
            "interval",
            args=(node, entry, metrics),
            seconds=entry.interval(node.config),
            id=entry.name,
            max_instances=1,
            coalesce=True,
        )


def run_scheduler(data_dir: Path) -> None:
    """Run every registered job on its interval until SIGTERM/SIGINT."""
    from node.ops import logs

    logs.configure("scheduler")
    node = node_runtime(load_config(data_dir))
    metrics = job_metrics()
    scheduler = BlockingScheduler(timezone="UTC")
    add_jobs(scheduler, node, metrics)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        scheduler.shutdown(wait=False)
        stop_children()  # a print run in progress must not outlive the scheduler

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
    node.engine.dispose()
