"""Benchmarks (``make bench`` = ``python -m bench``): measured, printed, never asserted.

Each ``bench/bench_*.py`` module exposes ``run() -> Section``. This package holds what they
share: timing one operation at a time, the result records, and the machine description that
makes numbers comparable between runs.

Timings are per operation (``time.perf_counter_ns`` around each call), so the report can show
the latency distribution (p50/p99) and not only a mean that hides pauses (GC, fsync).
"""

from __future__ import annotations

import gc
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_BUDGET_S",
    "DEFAULT_MAX_ITERATIONS",
    "Measurement",
    "Section",
    "machine_info",
    "measure",
    "percentile",
    "pin_to_one_core",
]

# Every measurement stops at whichever comes first: the count or the time budget. The count
# keeps fast operations from running needlessly long; the budget keeps slow ones bounded.
DEFAULT_MAX_ITERATIONS = 20_000
DEFAULT_BUDGET_S = 2.0
DEFAULT_WARMUP = 20


@dataclass(frozen=True)
class Measurement:
    """One operation's timings: count, throughput and latency percentiles."""

    name: str
    iterations: int
    total_s: float
    ops_per_s: float
    p50_us: float
    p99_us: float
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Section:
    """What one benchmark module reports: its measurements and plain-text notes."""

    title: str
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "measurements": [m.as_dict() for m in self.measurements],
            "notes": list(self.notes),
            "context": dict(self.context),
        }


def percentile(sorted_ns: list[int], pct: float) -> int:
    """Nearest-rank percentile of an ascending list (no interpolation: a real observed time)."""
    if not sorted_ns:
        raise ValueError("no samples")
    rank = max(1, math.ceil(len(sorted_ns) * pct / 100))
    return sorted_ns[min(rank, len(sorted_ns)) - 1]


def measure(
    name: str,
    operation: Callable[[Any], object],
    *,
    prepare: Callable[[int], Any] | None = None,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    budget_s: float = DEFAULT_BUDGET_S,
    warmup: int = DEFAULT_WARMUP,
    note: str = "",
) -> Measurement:
    """Time ``operation(arg)`` call by call, where ``arg = prepare(i)`` (untimed, or None).

    Stops after ``max_iterations`` timed calls or once ``budget_s`` of wall time has passed,
    whichever is first. ``warmup`` untimed calls first fill caches and import lazies. The
    garbage collector is collected before and left enabled during the run: the node runs with
    it, so its pauses belong in p99.
    """
    for i in range(warmup):
        operation(prepare(-1 - i) if prepare else None)
    gc.collect()
    samples: list[int] = []
    clock = time.perf_counter_ns
    deadline = time.monotonic() + budget_s
    i = 0
    while i < max_iterations and time.monotonic() < deadline:
        arg = prepare(i) if prepare else None
        start = clock()
        operation(arg)
        samples.append(clock() - start)
        i += 1
    samples.sort()
    total_ns = sum(samples)
    return Measurement(
        name=name,
        iterations=len(samples),
        total_s=total_ns / 1e9,
        ops_per_s=len(samples) / (total_ns / 1e9) if total_ns else 0.0,
        p50_us=percentile(samples, 50) / 1e3,
        p99_us=percentile(samples, 99) / 1e3,
        note=note,
    )


def pin_to_one_core() -> int | None:
    """Pin this process to one CPU (the first it may use) so runs are comparable.

    Returns the CPU number, or None where the OS has no affinity call (macOS).
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU model, CPU count, Python and library versions: what the numbers depend on."""
    from importlib.metadata import PackageNotFoundError, version

    libraries: dict[str, str] = {}
    for name in ("cryptography", "rfc8785", "signedjson", "pynacl", "sqlalchemy"):
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            libraries[name] = "not installed"
    from cryptography.hazmat.backends.openssl.backend import backend

    return {
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "openssl": backend.openssl_version_text(),
        "libraries": libraries,
    }
