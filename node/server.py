"""``hrcnet serve``: gunicorn for pages, API and federation, plus exactly one scheduler process.

gunicorn's workers serve requests; the scheduler runs in its own child process, started once
the arbiter is ready and stopped when it exits, so a node never runs its jobs twice however many
workers it has.

Memory (issue 14): the app is built once, in the arbiter (gunicorn's ``preload_app``), and the
workers and the scheduler are forked from it, so the modules, templates and catalogues they all
import are pages shared copy-on-write instead of one copy per process (each process importing
the whole app cost ~65 MB). What a fork must not share is re-made in the child:

- database connections: the arbiter closes its pool before it forks anything
  (:func:`release_connections`), and every child drops whatever pool it inherited without
  closing the parent's connections (``dispose(close=False)``); two processes talking over one
  PostgreSQL socket interleave their messages, and a SQLite connection carried across a fork
  breaks SQLite's locking (its documentation forbids it);
- the metric counters: prometheus_client's multiprocess values notice the new pid and write to
  a file of their own;
- the garbage collector: the objects built by the preload are frozen (``gc.freeze``), so the
  children's collections do not walk them and copy their pages.

After a load, each worker gives back the memory of its large work once idle (:mod:`node.memory`,
a thread started in ``post_fork``, fed by the ``pre_request``/``post_request`` hooks).
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from node import memory

log = logging.getLogger(__name__)

SCHEDULER_STOP_SECONDS = 10


def release_connections(app: Any, *, in_child: bool) -> None:
    """Drop the database pool of ``app`` (before a fork in the parent, or just after in a child).

    In the parent the connections are closed: nothing forked later may inherit one. In a child
    they are only forgotten (``close=False``): closing would end the parent's session on a
    connection it still owns (PostgreSQL) or release locks it holds (SQLite). Either way the
    next query opens a connection of the process's own.
    """
    app.extensions["hrcnet"].engine.dispose(close=not in_child)


class NodeServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, data_dir: Path, options: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.options = options
        self.scheduler_pid: int | None = None
        self.application: Any = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("when_ready", self._when_ready)
        self.cfg.set("post_fork", self._post_fork)
        self.cfg.set("pre_request", self._pre_request)
        self.cfg.set("post_request", self._post_request)
        self.cfg.set("on_exit", self._on_exit)

    def load(self) -> Any:
        if self.application is None:
            from node.app import create_app

            self.application = create_app(self.data_dir)
        return self.application

    def _when_ready(self, server: Any) -> None:
        """In the arbiter, after the preload and before any fork: no connection may be
        inherited, the preloaded objects are frozen, then the scheduler is forked."""
        app = self.load()
        release_connections(app, in_child=False)
        gc.collect()
        gc.freeze()
        if app.extensions["hrcnet"].config.scheduler:
            self._fork_scheduler(server)

    def _post_fork(self, _server: Any, worker: Any) -> None:
        app = self.load()
        release_connections(app, in_child=True)
        # Gives the memory of large work back once the worker is idle, and replaces a worker
        # grown by a load with a fresh fork once idle longer (node.memory): without it a worker
        # keeps its peak after a load. ``alive = False`` is gunicorn's graceful way out (the
        # requests in flight finish; the arbiter forks a replacement).
        config = app.extensions["hrcnet"].config
        memory.start(
            recycle=lambda: setattr(worker, "alive", False),
            recycle_idle_seconds=config.worker_recycle_idle_seconds,
            growth_bytes=config.worker_recycle_growth_mb << 20,
        )

    @staticmethod
    def _pre_request(_worker: Any, _request: Any) -> None:
        memory.RECLAIMER.request_started()

    @staticmethod
    def _post_request(_worker: Any, _request: Any, _environ: Any, response: Any) -> None:
        # gunicorn calls it in a ``finally`` after every pre_request; ``response`` is None
        # when the request failed before one was made.
        memory.RECLAIMER.request_finished(getattr(response, "sent", 0) or 0)

    def _fork_scheduler(self, server: Any) -> None:
        handled = {*server.SIGNALS, signal.SIGCHLD}
        # Blocked across the fork: a SIGTERM arriving before the child has dropped the
        # arbiter's handlers would be queued for an arbiter loop the child never runs, and the
        # scheduler would not stop. Delivered once the child's own handlers are in place.
        signal.pthread_sigmask(signal.SIG_BLOCK, handled)
        pid = os.fork()
        if pid:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)
            self.scheduler_pid = pid
            return
        # The child: it must not act as the arbiter (its signal handlers feed the arbiter's
        # queue) nor hold the listening sockets (it never answers a request).
        status = 1
        try:
            for signum in handled:
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)
            for listener in server.LISTENERS:
                listener.close()
            release_connections(self.load(), in_child=True)
            from gunicorn import util

            # Named like the process it replaces (``python -m node scheduler DIR``), for ps and
            # the multinode harness (when setproctitle is installed; otherwise it keeps serve's).
            util._setproctitle(f"scheduler {self.data_dir}")
            from node.jobs import run_scheduler

            run_scheduler(self.data_dir)
            status = 0
        except BaseException:
            log.exception("the scheduler stopped on an error")
        finally:
            # Never return into the arbiter's code (nor run its exit handlers) in this process.
            logging.shutdown()
            os._exit(status)

    def _on_exit(self, _server: Any) -> None:
        pid, self.scheduler_pid = self.scheduler_pid, None
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + SCHEDULER_STOP_SECONDS
        while time.monotonic() < deadline:
            if _reaped(pid):
                return
            time.sleep(0.05)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        _reaped(pid, block=True)


def _reaped(pid: int, *, block: bool = False) -> bool:
    """True once ``pid`` has exited (reaped here, or already by the arbiter's own ``waitpid``)."""
    try:
        done, _status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except OSError as exc:
        if exc.errno == errno.ECHILD:  # the arbiter's SIGCHLD handling reaped it first
            return True
        raise
    return done == pid


def serve(
    data_dir: Path,
    *,
    host: str,
    port: int,
    workers: int = 2,
    log_json: bool = False,
    log_level: str = "info",
) -> None:
    """Serve the node until SIGINT/SIGTERM (gunicorn handles both gracefully)."""
    import os
    import shutil
    import tempfile

    from node.ops import logs
    from node.ops.liveness import hold_serve_lock

    # Held until this process ends: restore and upgrade refuse a data dir that is being served,
    # and a second serve of the same data dir (two schedulers) is refused here.
    hold_serve_lock(data_dir.resolve())
    # Workers and the scheduler inherit these: the same log format everywhere, and one fresh
    # folder where every process writes its metric counters for /metrics to sum (set before
    # any of them imports prometheus_client; see node/ops/metrics.py).
    os.environ[logs.JSON_ENV] = "1" if log_json else "0"
    os.environ[logs.LEVEL_ENV] = log_level
    metrics_dir = tempfile.mkdtemp(prefix="hrcnet-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        # Built once in the arbiter, shared by the forked workers and scheduler (module doc).
        "preload_app": True,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "logconfig_dict": logs.gunicorn_logconfig(),
        "proc_name": f"hrcnet:{data_dir.name}",
        # gunicorn's control socket defaults to one path per user: several nodes on a machine
        # would replace each other's. Nodes are managed by signals and `hrcnet`, not gunicornc.
        "control_socket_disable": True,
    }
    arbiter = os.getpid()
    try:
        NodeServer(data_dir.resolve(), options).run()
    finally:
        # Only in the arbiter: a gunicorn worker that leaves gracefully (replaced once idle,
        # node.memory) ends with SystemExit, which unwinds through this very frame in the
        # worker's process; removing the folder there took the metrics of every process with it
        # and the next request of the new worker failed (500) on its missing counter file.
        if os.getpid() == arbiter:
            shutil.rmtree(metrics_dir, ignore_errors=True)
