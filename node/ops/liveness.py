"""Is a node being served from this data dir? ``hrcnet serve`` holds a lock while it runs.

The lock is an advisory ``flock`` on ``DATA_DIR/serve.lock``, taken by the serving process and
released by the kernel when that process ends, however it ends (a pid file would outlive a crash
and then lie). Restore and upgrade refuse to touch a data dir whose lock is held.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "serve.lock"


class NodeIsLive(Exception):
    """Another process serves this data dir."""


def hold_serve_lock(data_dir: Path) -> int:
    """Take the serve lock of ``data_dir`` for the life of this process; return its descriptor.

    Raises :class:`NodeIsLive` when another ``serve`` already holds it: two servers on one data
    dir would run two schedulers and deliver the outbox twice.
    """
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise NodeIsLive(f"{data_dir} is already being served (its {LOCK_FILE} is held).") from exc
    os.set_inheritable(fd, False)
    return fd


def is_served(data_dir: Path) -> bool:
    """True while some process holds the serve lock of ``data_dir``."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases our probe lock if we got it
    return False
