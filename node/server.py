"""``hrcnet serve``: gunicorn for pages, API and federation, plus exactly one scheduler process.

gunicorn's workers serve requests; the scheduler runs in its own child process, started once
the arbiter is ready and stopped when it exits, so a node never runs its jobs twice however many
workers it has.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)


class NodeServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, data_dir: Path, options: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.options = options
        self.scheduler: subprocess.Popen[bytes] | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("when_ready", self._when_ready)
        self.cfg.set("on_exit", self._on_exit)

    def load(self) -> Any:
        from node.app import create_app

        return create_app(self.data_dir)

    def _when_ready(self, _server: Any) -> None:
        from node.config import load_config

        if not load_config(self.data_dir).scheduler:
            return
        self.scheduler = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "node", "scheduler", str(self.data_dir)]
        )

    def _on_exit(self, _server: Any) -> None:
        if self.scheduler is not None and self.scheduler.poll() is None:
            self.scheduler.terminate()
            try:
                self.scheduler.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.scheduler.kill()


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
    try:
        NodeServer(data_dir.resolve(), options).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
