"""``hrcnet demo`` as a user runs it: real processes, real network, real signals.

- ``hrcnet demo --check`` builds the whole network in a temporary directory, checks every step
  from outside the nodes and exits 0, within the 4 minutes the issue asks for.
- Stop and restart (``tests/browser/test_demo_browser.py``, on the network its browser tests
  use: building one takes minutes): after SIGINT no process of the network remains and the data
  dirs are intact; a second start reuses them and keeps a value entered before the stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from node.demo.driver import child_env, port_is_free

pytestmark = pytest.mark.multinode

CHECK_BOUND_S = 240.0  # the issue: "within 4 minutes on this 2-core machine"
BUILD_TIMEOUT_S = 360.0


def free_port_base(count: int = 5) -> str:
    """A block of ``count`` free ports for ``--port-base``: a fixed base collided with another
    suite running on the same machine (a busy port is refused, by design). The scan starts at an
    offset of this process's id, so two suites starting together look at different blocks."""
    start = 18_000 + (os.getpid() % 300) * count
    for base in [*range(start, 20_000, count), *range(18_000, start, count)]:
        if all(port_is_free(port) for port in range(base, base + count)):
            return str(base)
    raise AssertionError("no free block of ports between 18000 and 20000 on 127.0.0.1")


REUSE_BOUND_S = 45.0  # "serving in seconds": five interpreters start on two busy cores
STOP_BOUND_S = 15.0  # 10 s for the nodes, plus the demo's own exit


def test_demo_check_builds_and_verifies_the_network(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "node", "demo", "--check"],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=tmp_path,  # demo-data/ would appear here if --check touched it
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    seconds = time.monotonic() - started
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "every step held" in report and "[FAILED]" not in report, report
    for promise in (
        "verified against its key document",
        "signed benchmark",
        "event-log head is identical",
        "mentoring state agrees",
        "deadline reminder",
        "comparison shows",
        "every node stopped within 10 s",
    ):
        assert "[ok] " in report and promise in report, (promise, report)
    assert not (tmp_path / "demo-data").exists()
    assert seconds < CHECK_BOUND_S, f"--check took {seconds:.0f} s\n{report}"


class DemoProcess:
    """``hrcnet demo`` in its own process group, its output collected by a reader thread."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node", "demo", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env(),
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,))
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))
        stream.close()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> float:
        """Seconds until ``text`` appears in the output (fails if the demo exits first)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if any(text in line for line in self.lines):
                return time.monotonic() - started
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} within {timeout:.0f} s:\n{self.output}")

    def interrupt(self, timeout: float = STOP_BOUND_S) -> float:
        """SIGINT (Ctrl-C) the demo; seconds until it exited."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=timeout)
        return time.monotonic() - started

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self._reader.join(timeout=5)
