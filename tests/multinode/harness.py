"""Run real ``hrcnet serve`` processes on 127.0.0.1 for multi-node and browser tests.

Built on the demo's driver (:mod:`node.demo.driver`, the production code ``hrcnet demo`` uses):
a :class:`NodeProcess` is its :class:`~node.demo.driver.ServedNode` (the ``serve`` process in
its own group, its log, the bounded wait for ``/healthz``) plus what tests need around it (the
CLI, users and tokens, PostgreSQL, strict stops, leftover checks); :class:`StaffClient` is its
:class:`~node.demo.driver.ApiClient`; :func:`wait_until` is its bounded poll. Every failure
message carries the tail of the node's log, because a node that died in a subprocess is
otherwise invisible to pytest.

The harness only speaks to 127.0.0.1: the suite's autouse guard fails anything else, and the
children get ``NO_PROXY`` for loopback so a proxy in the environment cannot capture node-to-node
traffic.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from node.config import load_config
from node.db import session_scope
from node.demo import driver
from node.demo.driver import ApiClient, ServedNode, kernel_free_port
from node.jobs import node_runtime
from node.runtime import utcnow
from node.services import users

LOOPBACK = "127.0.0.1"
READY_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.1
STOP_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 120.0
HTTP_TIMEOUT_S = 10.0
WAIT_S = 45.0

T = TypeVar("T")


class NodeError(AssertionError):
    """A node did not do what the test needed; the message includes its log tail."""


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1 (the kernel picks it: bind port 0).

    There is a small race until the node binds it; in practice the kernel does not hand out the
    same ephemeral port again so soon.
    """
    return kernel_free_port()


def child_env(
    database_url: str | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment for node processes: the demo driver's (no ``NODE_*`` of the developer's,
    loopback never proxied, unbuffered output), plus the backend and private peers.

    Every test node lives on 127.0.0.1: the outbound policy refuses loopback peers unless
    ``NODE_ALLOW_PRIVATE_PEERS`` is set; the PostgreSQL URL is put back when the caller asks
    for that backend.
    """
    env = driver.child_env()
    if database_url:
        env["NODE_DATABASE_URL"] = database_url
    env["NODE_ALLOW_PRIVATE_PEERS"] = "1"
    if extra:
        env.update(extra)
    return env


def _read_cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone meanwhile, or not ours to read
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line contains ``text``: ``[(pid, cmdline), ...]``.

    Uses psutil when installed, else scans ``/proc``. Zombies have an empty command line and
    are therefore never reported (they hold no resources but a pid).
    """
    me = os.getpid()
    found: list[tuple[int, str]] = []
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        for proc in psutil.process_iter(["pid", "cmdline", "status"]):
            info = proc.info
            if info["pid"] == me or info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(info["cmdline"] or [])
            if text in cmdline:
                found.append((info["pid"], cmdline))
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        cmdline = _read_cmdline(int(entry.name))
        if text in cmdline:
            found.append((int(entry.name), cmdline))
    return found


@dataclass(frozen=True)
class NodeUser:
    """A user created on a node through the CLI, with the password and an API token."""

    email: str
    role: str
    password: str
    token: str


@dataclass
class NodeProcess(ServedNode):
    """One real node on 127.0.0.1: the driver's :class:`ServedNode`, for tests.

    ``init()`` runs ``hrcnet init``; ``start()`` runs ``hrcnet serve`` and waits for
    ``/healthz``; ``stop()`` sends SIGTERM like an operator would and fails the test when the
    node does not stop in time. The same port is kept across restarts because it is part of the
    node's configured ``base_url``.
    """

    port: int = field(default_factory=free_port)
    name: str | None = None
    country: str = "BE"
    region: str = "europe-west"
    role: str = "city"
    database_url: str | None = None
    http: requests.Session = field(default_factory=requests.Session, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        # Never route loopback calls through a proxy from the environment.
        self.http.trust_env = False

    def node_env(self) -> dict[str, str]:
        """The backend, and private peers: every test node lives on 127.0.0.1, which the
        outbound policy refuses unless ``NODE_ALLOW_PRIVATE_PEERS`` is set."""
        # A node living longer than the print job's interval prints its annual report PDFs in
        # the background (a Chromium per language): one language bounds that CPU on a 2-core CI;
        # the portal's own test asks for more through ``extra_env``.
        # Queued envelopes go out every second (as in the demo network), not every 5-10 s: a
        # test waiting on a twin's answer waits for the network, not for the job's timer.
        extra = {
            "NODE_ANNUAL_REPORT_LANGUAGES": "en",
            "NODE_DELIVERY_INTERVAL_SECONDS": "1",
            **self.extra_env,
        }
        if self.database_url:
            extra["NODE_DATABASE_URL"] = self.database_url
        extra["NODE_ALLOW_PRIVATE_PEERS"] = "1"
        return extra

    def fail(self, message: str) -> NodeError:
        """A :class:`NodeError` for this node, with its log tail attached."""
        return NodeError(f"[{self.city_id} @ {self.base_url}] {message}\n{self.describe_failure()}")

    # --- command line --------------------------------------------------------------------------

    def run_cli(
        self,
        *args: str | os.PathLike[str],
        input: str | None = None,
        check: bool = True,
        timeout: float = CLI_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``hrcnet ARGS...`` (as ``python -m node``) with this node's environment.

        Arguments are passed verbatim, so name the data dir yourself:
        ``node.run_cli("sync", node.data_dir)``. With ``check`` a non-zero exit raises a
        :class:`NodeError` showing the command's output and the serve log.
        """
        command = [sys.executable, "-m", "node", *map(str, args)]
        try:
            done = subprocess.run(
                command,
                input=input,
                capture_output=True,
                text=True,
                env=self.env(),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise self.fail(f"hrcnet {' '.join(map(str, args))} took over {timeout} s") from exc
        if check and done.returncode != 0:
            raise self.fail(
                f"hrcnet {' '.join(map(str, args))} exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done

    def init(self) -> subprocess.CompletedProcess[str]:
        """``hrcnet init`` this node (the data dir must not exist or be empty)."""
        args: list[str | os.PathLike[str]] = [
            "init", self.data_dir,
            "--city-id", self.city_id,
            "--name", self.name or self.city_id,
            "--country", self.country,
            "--region", self.region,
            "--url", self.base_url,
            "--role", self.role,
        ]  # fmt: skip
        return self.run_cli(*args)

    def create_user(self, email: str, role: str = "official", password: str | None = None) -> str:
        """Create a user through the CLI (password on stdin) and return a fresh API token."""
        self.run_cli(
            "user", "add", self.data_dir, "--email", email, "--role", role,
            input=(password or "correct horse battery staple") + "\n",
        )  # fmt: skip
        return self.create_token(email)

    def create_token(self, email: str) -> str:
        """``hrcnet token create``: the token is the last line of stdout."""
        out = self.run_cli("token", "create", self.data_dir, "--email", email).stdout
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        if not lines:
            raise self.fail(f"token create printed nothing for {email}")
        return lines[-1]

    # --- HTTP ----------------------------------------------------------------------------------

    def api(
        self,
        method: str,
        path: str,
        json: Any = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """One HTTP request to this node (``path`` starts with ``/``); bearer ``token`` optional."""
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("timeout", HTTP_TIMEOUT_S)
        kwargs.setdefault("allow_redirects", False)
        return self.http.request(method, self.base_url + path, json=json, headers=headers, **kwargs)

    # --- process lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = READY_TIMEOUT_S) -> NodeProcess:  # type: ignore[override]
        """Start ``hrcnet serve`` and wait until ``/healthz`` answers 200 (at most ``timeout``)."""
        if self.running:
            raise self.fail("start() called while the node is running")
        super().start()
        try:
            self.wait_ready(timeout)
        except driver.DemoError as exc:
            raise NodeError(str(exc)) from None
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> float:
        """SIGTERM the server, wait at most ``timeout`` s, then SIGKILL its process group.

        Returns the seconds the graceful stop took; raises :class:`NodeError` (after killing)
        when it did not stop in time, so a hanging shutdown is a test failure, not a leak.
        """
        process = self.process
        if process is None:
            return 0.0
        started = time.monotonic()
        try:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._kill_group(process.pid)
                    process.wait(timeout=5)
                    raise self.fail(f"did not stop within {timeout} s of SIGTERM; killed") from None
            return time.monotonic() - started
        finally:
            self.process = None
            if self._log is not None:
                self._log.close()
                self._log = None

    def restart(self, timeout: float = READY_TIMEOUT_S) -> NodeProcess:
        """Stop (gracefully) and start again on the same port and data dir."""
        self.stop()
        return self.start(timeout)

    def kill(self) -> None:
        """Last resort for teardown: SIGKILL the whole process group, ignore errors."""
        process = self.process
        if process is not None:
            self._kill_group(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def _kill_group(pid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    def leftover_processes(self) -> list[tuple[int, str]]:
        """Processes still running for this node (by its data dir in their command line)."""
        return processes_mentioning(str(self.data_dir))

    def wait_no_leftovers(self, timeout: float = 5.0) -> list[tuple[int, str]]:
        """Wait (bounded) for this node's processes to disappear; return any that remain.

        Children reparented after the arbiter exits may need a moment to finish their own
        shutdown, so a single immediate scan would give false alarms.
        """
        deadline = time.monotonic() + timeout
        remaining = self.leftover_processes()
        while remaining and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
            remaining = self.leftover_processes()
        return remaining

    def close(self) -> None:
        """Stop the node whatever its state and release the HTTP session (for teardown)."""
        try:
            if self.running:
                self.stop()
        finally:
            self.kill()
            # Anything still holding the data dir (e.g. an orphaned scheduler) must not outlive
            # the test: it would keep writing into a deleted directory.
            for pid, _cmd in self.leftover_processes():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            self.http.close()
            if self._runtime_dir is not None:
                shutil.rmtree(self._runtime_dir, ignore_errors=True)
                self._runtime_dir = None


def stop_all(nodes: Iterable[NodeProcess]) -> list[str]:
    """Close every node, even if some fail; return the failure messages."""
    problems: list[str] = []
    for node in nodes:
        try:
            node.close()
        except Exception as exc:  # keep tearing the others down
            problems.append(f"{node.city_id}: {exc}")
    return problems


class NodeFactory:
    """``node_factory("be-gent", "it-padova")`` → started nodes, torn down after the test.

    ``backend="postgresql"`` gives each node its own database on the suite's PostgreSQL server
    (the ``postgres`` fixture of ``tests/conftest.py``, which skips when none is configured).
    """

    def __init__(self, request: pytest.FixtureRequest, base: Path) -> None:
        self._request = request
        self._base = base
        self.nodes: list[NodeProcess] = []
        self._databases: list[str] = []

    def __call__(
        self, *city_ids: str, start: bool = True, backend: str = "sqlite", **options: Any
    ) -> list[NodeProcess]:
        created: list[NodeProcess] = []
        for city_id in city_ids:
            database_url = None
            if backend == "postgresql":
                database_url = self._request.getfixturevalue("postgres").create_database()
                self._databases.append(database_url)
            elif backend != "sqlite":
                raise ValueError(f"unknown backend {backend!r}")
            node = NodeProcess(city_id, self._base / city_id, database_url=database_url, **options)
            # Registered before init/start so a failure half-way is still torn down.
            self.nodes.append(node)
            created.append(node)
            node.init()
        if start:
            for node in created:
                node.start()
        return created

    def teardown(self) -> list[str]:
        problems = stop_all(self.nodes)
        if self._databases:
            server = self._request.getfixturevalue("postgres")
            for url in self._databases:
                try:
                    server.drop_database(url)
                except Exception as exc:  # report, but keep dropping the others
                    problems.append(f"drop {url}: {exc}")
        return problems


def official_token(node: NodeProcess) -> str:
    """An official with an API token, written into the node's database before it starts.

    The same service calls as ``hrcnet user add`` + ``hrcnet token create`` (which the smoke
    tests cover), without two interpreter start-ups per node; the configuration is read with
    the node's own environment, so a PostgreSQL node gets its own database.
    """
    config = load_config(node.data_dir, environ=node.env())
    runtime = node_runtime(config)
    try:
        with session_scope(runtime.sessions) as session:
            user = users.create_user(
                session,
                email=f"official@{node.city_id}.example",
                password="correct horse battery staple",
                role="official",
                now=utcnow(),
                node_role=config.role,
            )
            return users.create_token(session, user, now=utcnow())
    finally:
        runtime.engine.dispose()


@dataclass
class StaffClient(ApiClient):
    """The driver's :class:`ApiClient` for a test node and one of its staff's tokens, on the
    node's own HTTP session (closed with the node). ``api_prefix`` is ``/api/v1`` unless a
    subclass needs full paths (``""``)."""

    node: NodeProcess

    def __post_init__(self) -> None:
        self.http.close()  # the default session, never used
        self.http = self.node.http
        super().__post_init__()


class Member(StaffClient):
    """A running node and an API token of one of its staff (official, or secretariat staff)."""

    def peer_states(self) -> dict[str, str]:
        return {p["city_id"]: p["state"] for p in self.items("/peers")}


def wait_until(
    what: str, probe: Callable[[], T | None], *watch: StaffClient, timeout: float = WAIT_S
) -> T:
    """The driver's bounded poll; on timeout the logs of the ``watch`` nodes are attached."""
    try:
        value: T = driver.wait_until(what, probe, timeout=timeout, logs=[m.node for m in watch])
    except driver.DemoError as exc:
        raise NodeError(str(exc)) from None
    return value
