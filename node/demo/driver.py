"""Drive real ``hrcnet serve`` processes on 127.0.0.1 from outside, as an operator would.

Production code shared by ``hrcnet demo`` (and its ``--check``) and the multi-node tests:

- :class:`ServedNode` owns one node's ``hrcnet serve`` process (its own process group, so a stop
  reaches the gunicorn arbiter, its worker and the node's one scheduler together, and never the
  caller's group), its log file and a bounded wait for ``/healthz``.
- :class:`RemoteNode` is a node served by someone else (a container), known by its URL.
- :class:`ApiClient` speaks a node's HTTP API with a bearer token and checks every answer.
- :func:`wait_until` polls with a deadline, never a bare sleep.

The processes it starts only ever listen on 127.0.0.1; the clients speak to the URLs they are
given (127.0.0.1 for the demo and the tests, the compose network's names in containers).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol, TypeVar

import requests

LOOPBACK = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 15.0
POLL_S = 0.25
HEARTBEAT_S = 15.0
LOG_NAME = "serve.log"

T = TypeVar("T")


class DemoError(RuntimeError):
    """A step of the demo did not happen; the message says which and shows the evidence."""


def port_is_free(port: int) -> bool:
    """Whether ``port`` on 127.0.0.1 can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def kernel_free_port() -> int:
    """A port the kernel says is free now (bind port 0); a small race until the node binds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a node process: ours, without the developer's ``NODE_*`` settings.

    A stray ``NODE_DATABASE_URL`` or ``NODE_BASE_URL`` in the caller's shell would silently
    point a demo node at someone else's database or address, so every ``NODE_*`` is dropped.
    Loopback bypasses any proxy: node-to-node traffic must not leave the machine.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
    loopback = f"{LOOPBACK},localhost"
    for name in ("NO_PROXY", "no_proxy"):
        current = env.get(name)
        env[name] = f"{current},{loopback}" if current else loopback
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def wait_until(
    what: str,
    probe: Callable[[], T],
    *,
    timeout: float = 60.0,
    logs: Iterable[ServedNode] = (),
    heartbeat: Callable[[str], None] | None = None,
) -> T:
    """Poll ``probe`` every :data:`POLL_S` until it returns something truthy (bounded).

    ``heartbeat`` is told every :data:`HEARTBEAT_S` what is still awaited: never a silent minute.
    """
    started = time.monotonic()
    deadline, next_beat = started + timeout, started + HEARTBEAT_S
    while True:
        value = probe()
        if value:
            return value
        now = time.monotonic()
        if now >= deadline:
            break
        if heartbeat is not None and now >= next_beat:
            heartbeat(f"still waiting ({now - started:.0f} s): {what}")
            next_beat = now + HEARTBEAT_S
        time.sleep(POLL_S)
    tails = "\n".join(node.describe_failure() for node in logs)
    raise DemoError(f"not within {timeout:.0f} s: {what} (last: {value!r})\n{tails}")


class Endpoint(Protocol):
    """What an :class:`ApiClient` needs of a node: its id, its URL, evidence when it fails."""

    @property
    def city_id(self) -> str: ...

    @property
    def base_url(self) -> str: ...

    def describe_failure(self) -> str: ...


@dataclass(frozen=True)
class RemoteNode:
    """A node served by someone else (e.g. a container): only its URL is known here."""

    city_id: str
    base_url: str

    def describe_failure(self) -> str:
        return f"--- {self.city_id} at {self.base_url}: see that node's own log"


@dataclass
class ServedNode:
    """One node's ``hrcnet serve`` process on 127.0.0.1.

    ``extra_env`` is added to the node's environment (e.g. its ``NODE_DATABASE_URL``);
    ``args`` replaces the default ``serve`` arguments (e.g. ``scheduler DATA_DIR`` for a node
    whose scheduler runs apart, as in ``docker/compose.yaml``), logging to ``log_name``.
    """

    city_id: str
    data_dir: Path
    port: int
    extra_env: dict[str, str] = field(default_factory=dict, repr=False)
    args: tuple[str, ...] | None = None
    log_name: str = LOG_NAME
    workers: int = 1
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)
    _runtime_dir: Path | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def node_env(self) -> dict[str, str]:
        """The settings added to the node's environment (subclasses may add more)."""
        return dict(self.extra_env)

    def env(self) -> dict[str, str]:
        """The node's environment: :func:`child_env`, its ``extra_env``, its own runtime dir.

        gunicorn opens a control socket at ``$XDG_RUNTIME_DIR/gunicorn.ctl`` (else one path
        shared by every node of the user), so nodes would replace, and on exit delete, each
        other's socket: a short private dir per node keeps them apart.
        """
        extra = self.node_env()
        if "XDG_RUNTIME_DIR" not in extra:
            if self._runtime_dir is None:
                self._runtime_dir = Path(tempfile.mkdtemp(prefix="hrcnet-run-"))
            extra["XDG_RUNTIME_DIR"] = str(self._runtime_dir)
        return child_env(extra)

    @property
    def log_path(self) -> Path:
        return self.data_dir / self.log_name

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        """The last ``lines`` lines of the node's log, without successful polls (noise)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log yet)"
        kept = [
            line
            for line in text.splitlines()
            if not (
                ' HTTP/1.1" 200 ' in line
                or ' HTTP/1.1" 404 ' in line
                or "executed successfully" in line
            )
        ]
        return "\n".join(kept[-lines:])

    def describe_failure(self) -> str:
        return f"--- {self.city_id}: {self.log_path} (tail) ---\n{self.log_tail()}"

    def start(self) -> None:
        """Start ``hrcnet serve`` in its own process group (not waiting: see :meth:`wait_ready`)."""
        if self.running:
            return
        self._log = self.log_path.open("ab")
        self._log.write(f"\n=== hrcnet demo: serve starting at {time.ctime()}\n".encode())
        self._log.flush()
        args = self.args or (
            "serve", str(self.data_dir), "--host", LOOPBACK, "--port", str(self.port),
            "--workers", str(self.workers),
        )  # fmt: skip
        command = [sys.executable, "-m", "node", *args]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env(),
            # Own process group: a stop (or a last-resort SIGKILL) reaches the arbiter, its
            # worker and the scheduler together, and never the terminal's group.
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Poll ``GET /healthz`` until 200; fail early (with the log) if the process dies."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with requests.Session() as http:
            http.trust_env = False  # loopback only: never through a proxy
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise DemoError(
                        f"{self.city_id}: hrcnet serve exited with {self.process.returncode} "
                        f"while starting\n{self.describe_failure()}"
                    )
                try:
                    response = http.get(self.base_url + "/healthz", timeout=2.0)
                except requests.RequestException as exc:
                    last = type(exc).__name__
                else:
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}"
                time.sleep(POLL_S)
        raise DemoError(
            f"{self.city_id}: /healthz not ready within {timeout:.0f} s (last: {last})\n"
            f"{self.describe_failure()}"
        )

    def terminate(self) -> None:
        """Send SIGTERM to the node (gunicorn stops its worker and scheduler gracefully)."""
        if self.running:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def finish(self, deadline: float) -> bool:
        """Wait for the process until the monotonic ``deadline``; kill its group after.

        Returns True when it stopped gracefully in time. Either way, nothing of the node's
        process group is left behind.
        """
        process, graceful = self.process, True
        if process is not None:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                graceful = False
            # The group may still hold a reparented child (e.g. a scheduler mid-job): kill it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None
        return graceful


def stop_nodes(nodes: Iterable[ServedNode], timeout: float = STOP_TIMEOUT_S) -> list[str]:
    """SIGTERM every node at once, wait at most ``timeout`` s in all, kill what remains.

    Returns the ids of the nodes that had to be killed.
    """
    nodes = list(nodes)
    for node in nodes:
        node.terminate()
    deadline = time.monotonic() + timeout
    return [node.city_id for node in nodes if not node.finish(deadline)]


@dataclass
class ApiClient:
    """A node's HTTP API (``/api/v1``) with the bearer token of one of its users.

    ``api_prefix`` is put before every path; a subclass may choose ``""`` to give full paths.
    """

    node: Endpoint
    token: str
    http: requests.Session = field(default_factory=requests.Session, repr=False)
    api_prefix: ClassVar[str] = "/api/v1"

    def __post_init__(self) -> None:
        # Node to node only: never through a proxy from the environment.
        self.http.trust_env = False

    @property
    def city_id(self) -> str:
        return self.node.city_id

    @property
    def base_url(self) -> str:
        return self.node.base_url

    def request(self, method: str, path: str, json: Any = None) -> requests.Response:
        """One request to ``{api_prefix}{path}``; no status check."""
        return self.http.request(
            method,
            f"{self.node.base_url}{self.api_prefix}{path}",
            json=json,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=HTTP_TIMEOUT_S,
            allow_redirects=False,
        )

    def call(self, method: str, path: str, json: Any = None, expect: int = 200) -> Any:
        """The JSON answer of a call that must answer ``expect`` (else :class:`DemoError`)."""
        response = self.request(method, path, json)
        if response.status_code != expect:
            raise DemoError(
                f"{self.city_id}: {method} {self.api_prefix}{path} answered "
                f"{response.status_code}, "
                f"expected {expect}: {response.text[:1500]}\n{self.node.describe_failure()}"
            )
        return response.json() if response.content else None

    def peek(self, path: str) -> Any:
        """The JSON of a GET, or None while the node does not know the object (404)."""
        response = self.request("GET", path)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise DemoError(f"{self.city_id}: GET {path} answered {response.status_code}")
        return response.json()

    def items(self, path: str) -> list[Any]:
        """A list endpoint's items (array or ``{"items": [...]}``)."""
        body = self.call("GET", path)
        items: list[Any] = body["items"] if isinstance(body, dict) else body
        return items

    def close(self) -> None:
        self.http.close()
