"""``hrcnet demo`` as a user runs it: real processes, real network, real signals.

- ``hrcnet demo --check`` builds the whole network in a temporary directory, checks every step
  from outside the nodes and exits 0, within the 4 minutes the issue asks for.
- Stop and restart: after SIGINT no process of the network remains and the data dirs are
  intact; a second start reuses them (serving in seconds, no rebuild) and keeps a value entered
  before the stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import requests

from node.demo.driver import child_env, port_is_free
from tests.multinode.harness import processes_mentioning

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


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # Whatever happened, nothing of the network may outlive the test.
    for pid, _cmd in processes_mentioning(str(tmp_path / "demo-data")):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _api_token(data_dir: str, email: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "node", "token", "create", data_dir, "--email", email],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=True,
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()][-1]


def test_stop_and_restart_reuses_the_network_and_keeps_entered_values(demo_dir: Path) -> None:
    root = demo_dir / "demo-data"
    first = DemoProcess(demo_dir, "--port-base", free_port_base())
    try:
        first.wait_for("Serving.", BUILD_TIMEOUT_S)
        table = json.loads((root / "network.json").read_text())
        assert [row["city_id"] for row in table] == [
            "hrc-secretariat", "us-los-angeles", "be-gent", "it-padova", "ke-nairobi",
        ]  # fmt: skip
        gent = next(row for row in table if row["city_id"] == "be-gent")
        assert {login["role"] for login in gent["logins"]} == {
            "admin", "official", "data_collector", "cso_partner", "reviewer", "viewer",
        }  # fmt: skip
        official = next(login for login in gent["logins"] if login["role"] == "official")
        # A value a user enters while the demo runs (a period the build never touched).
        token = _api_token(gent["data_dir"], official["email"])
        # Confirmed: the sample series may hold a 2022 value far from 14.5 (issue 15's check).
        entered = {
            "indicator": "HRC-HOU-02",
            "period": "2023",
            "value": "14.5",
            "confirm_outlier": True,
        }
        with requests.Session() as http:
            http.trust_env = False
            response = http.post(
                gent["url"] + "/api/v1/results",
                json=[entered],
                headers={"Authorization": f"Bearer {token}"},
                timeout=15,
            )
            assert response.status_code == 201, response.text
        keys_before = {
            row["city_id"]: (Path(row["data_dir"]) / "signing_key.pem").read_bytes()
            for row in table
        }
        stop_seconds = first.interrupt()
        assert first.process.returncode == 0, first.output
        assert stop_seconds < STOP_BOUND_S, first.output
        assert processes_mentioning(str(root)) == [], first.output
    finally:
        first.close()
    # The data dirs are intact.
    for row in table:
        data_dir = Path(row["data_dir"])
        assert (data_dir / "node.toml").is_file() and (data_dir / "node.db").is_file()

    second = DemoProcess(demo_dir)
    try:
        second.wait_for("reusing the network", 30)
        seconds = second.wait_for("Serving.", REUSE_BOUND_S)
        assert "building a network" not in second.output
        assert json.loads((root / "network.json").read_text()) == table  # same logins, same URLs
        for row in table:
            key = (Path(row["data_dir"]) / "signing_key.pem").read_bytes()
            assert key == keys_before[row["city_id"]]
        with requests.Session() as http:
            http.trust_env = False
            figures = http.get(
                gent["url"] + "/api/v1/results?indicator=HRC-HOU-02&period=2023",
                headers={"Authorization": f"Bearer {token}"},
                timeout=15,
            ).json()
        values = [f["value"] for f in figures["items"]]
        assert values == ["14.5"], figures
        second.interrupt()
        assert second.process.returncode == 0, second.output
        assert processes_mentioning(str(root)) == [], second.output
    finally:
        second.close()
    assert seconds < REUSE_BOUND_S
