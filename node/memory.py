"""Giving memory back to the system once a worker is idle after large work (issue 14).

At a million results, computing one answer of progress or the dashboard allocates tens of MB
of short-lived objects, and a large response (an export, the full progress document) a buffer
of its size. Freed, that memory stays in the process: CPython's small-object arenas go back
only when empty, and glibc's ``free`` keeps freed chunks in its arenas (one per thread that
allocated) for the next ``malloc``. A worker that served a load therefore kept its peak (245 MB
of PSS for the node after the load, against 127 MB idle).

:class:`Reclaimer` counts the requests in flight; after a request whose response was large
(``LARGE_RESPONSE_BYTES`` or more) or after large work (an answer computed for the
per-data-version cache, :func:`note_large_work`), the first moment the process has had no
request for ``IDLE_SECONDS`` it collects cyclic garbage and asks glibc to give free memory
back (``malloc_trim(0)``). Never under load: a trim costs milliseconds and the next request
would fault the pages in again; never when nothing large happened: an idle node does nothing.
The check runs in a daemon thread of each gunicorn worker (:func:`start`, from ``post_fork``).

What a trim cannot give back is the copy-on-write share: a worker forked from the arbiter
shares its pages (the imported code, the preloaded app) until it writes to them, and serving
writes to many (reference counts, caches), so after a load each worker holds private copies
of pages the others still share, and the arbiter's and scheduler's PSS rise with it. Only a
fresh fork shares them again. So a worker whose private memory grew by
``worker_recycle_growth_mb`` (config, default 32) or more since its fork, once it has had no
request for ``worker_recycle_idle_seconds`` (config; 0: never), leaves gracefully and gunicorn
forks a new one from the arbiter (``worker.alive = False``: gunicorn's own way, as for
``max_requests``). Its cached answers go with it; the next request after the idle time computes
them again once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

LARGE_RESPONSE_BYTES = 256 * 1024
IDLE_SECONDS = 1.0
CHECK_SECONDS = 0.5
RECYCLE_GROWTH_BYTES = 32 * 1024 * 1024


def private_bytes() -> int:
    """This process's private memory (``Private_Clean`` + ``Private_Dirty`` of
    ``/proc/self/smaps_rollup``: its own pages and its copies of the parent's); 0 where there is
    no such file (then a worker is never recycled)."""
    try:
        lines = Path("/proc/self/smaps_rollup").read_text(encoding="ascii").splitlines()
    except OSError:
        return 0
    return 1024 * sum(
        int(line.split()[1])
        for line in lines
        if line.startswith(("Private_Clean:", "Private_Dirty:"))
    )


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where there is none.

    Only glibc has it (musl, macOS and Windows do not, and their allocators return memory in
    their own ways), so it is looked up by name in the C library the process already runs and
    a missing symbol makes :func:`release_free_memory` collect garbage only: a no-op elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        function = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_MALLOC_TRIM = _load_malloc_trim()


def release_free_memory() -> bool:
    """Collect cyclic garbage, then return the C heap's free pages to the system (glibc).
    True when ``malloc_trim`` ran (and reported memory released or not)."""
    gc.collect()
    if _MALLOC_TRIM is None:
        return False
    # 0: keep no padding at the top of the heap; glibc also releases the free pages inside
    # every arena (madvise), not only the heap's top.
    _MALLOC_TRIM(0)
    return True


class Reclaimer:
    """Decides when a process gives memory back: idle, and after something large.

    ``clock`` and ``release`` are parameters for the tests (a clock they move, a release they
    count); in a worker they are ``time.monotonic`` and :func:`release_free_memory`.
    """

    def __init__(
        self,
        *,
        large_bytes: int = LARGE_RESPONSE_BYTES,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        release: Callable[[], object] = release_free_memory,
        measure: Callable[[], int] = private_bytes,
        growth_bytes: int = RECYCLE_GROWTH_BYTES,
    ) -> None:
        self.large_bytes = large_bytes
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.release = release
        self.measure = measure
        self.growth_bytes = growth_bytes
        self.in_flight = 0
        self.pending = False  # something large happened since the last release
        self.last_finished = clock()
        self.releases = 0
        self.lock = threading.Lock()
        self.recycle: Callable[[], object] | None = None
        self.recycle_idle_seconds = 0.0
        self.baseline: int | None = None
        self.checked_idle_since: float | None = None

    def reset(
        self, *, recycle: Callable[[], object] | None = None, recycle_idle_seconds: float = 0.0
    ) -> None:
        """Start afresh (in a new worker; its private memory at its first request is the baseline
        of its growth); ``recycle`` is what replaces the process (None or 0 seconds: never)."""
        with self.lock:
            self.in_flight = 0
            self.pending = False
            self.last_finished = self.clock()
            self.recycle = recycle if recycle_idle_seconds > 0 else None
            self.recycle_idle_seconds = recycle_idle_seconds
            self.checked_idle_since = None
            # Measured when the first request starts: after gunicorn's own start-up in the
            # worker (threads, poller), so that a worker that served nothing never counts as
            # grown, and is never replaced over and over on an idle node.
            self.baseline = None

    def request_started(self) -> None:
        with self.lock:
            self.in_flight += 1
            measure = self.recycle is not None and self.baseline is None
        if measure:
            self.baseline = self.measure()  # once per worker (a read of /proc/self)

    def request_finished(self, sent_bytes: int) -> None:
        """A request ended having sent ``sent_bytes`` (headers and body)."""
        with self.lock:
            self.in_flight = max(0, self.in_flight - 1)
            self.last_finished = self.clock()
            if sent_bytes >= self.large_bytes:
                self.pending = True

    def note_large_work(self) -> None:
        """Something allocated a lot (an answer computed for the cache), whatever it sent."""
        with self.lock:
            self.pending = True

    def due(self) -> bool:
        """Large work since the last release, no request in flight, none for ``idle_seconds``."""
        with self.lock:
            return (
                self.pending
                and self.in_flight == 0
                and self.clock() - self.last_finished >= self.idle_seconds
            )

    def release_if_due(self) -> bool:
        """Release (see :func:`release_free_memory`) when :meth:`due`; True if it did."""
        if not self.due():
            return False
        with self.lock:
            self.pending = False
        self.release()
        self.releases += 1
        return True

    def recycle_if_due(self) -> bool:
        """Replace the process (``recycle``) when it has had no request for
        ``recycle_idle_seconds`` and its private memory grew by ``growth_bytes`` or more since
        :meth:`reset`. Measured once per idle period (a request ends it). True if it did."""
        with self.lock:
            if (
                self.recycle is None
                or self.baseline is None  # served nothing since its fork: nothing to give back
                or self.in_flight
                or self.checked_idle_since == self.last_finished
                or self.clock() - self.last_finished < self.recycle_idle_seconds
            ):
                return False
            self.checked_idle_since = self.last_finished
            recycle = self.recycle
        grown = self.measure() - self.baseline
        if grown < self.growth_bytes:
            return False
        log.info("worker idle after a load, %d MB grown since its fork: replaced", grown >> 20)
        with self.lock:
            self.recycle = None  # once: the process is on its way out
        recycle()
        return True

    def watch(self, stop: threading.Event, every: float = CHECK_SECONDS) -> None:
        """Check every ``every`` seconds until ``stop`` is set (the body of :func:`start`)."""
        while not stop.wait(every):
            try:
                self.release_if_due()
                self.recycle_if_due()
            except Exception:  # a failed trim must never take the worker down
                log.exception("releasing free memory failed")


RECLAIMER = Reclaimer()


def note_large_work() -> None:
    """Tell this process's :data:`RECLAIMER` that something large was computed."""
    RECLAIMER.note_large_work()


def start(
    *,
    recycle: Callable[[], object] | None = None,
    recycle_idle_seconds: float = 0.0,
    growth_bytes: int = RECYCLE_GROWTH_BYTES,
) -> threading.Event:
    """Start this process's reclaimer thread (daemon); set the returned event to stop it.

    Called in each gunicorn worker after the fork: threads do not survive a fork, and the
    arbiter serves no request. ``recycle``: how the worker leaves to be replaced by a fresh
    fork (see the module docstring), after ``recycle_idle_seconds`` without a request, once its
    private memory grew by ``growth_bytes``.
    """
    RECLAIMER.growth_bytes = growth_bytes
    RECLAIMER.reset(recycle=recycle, recycle_idle_seconds=recycle_idle_seconds)
    stop = threading.Event()
    threading.Thread(
        target=RECLAIMER.watch, args=(stop,), name="hrcnet-memory", daemon=True
    ).start()
    return stop
