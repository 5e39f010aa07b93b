"""``python -m bench [MODULE ...]``: run the benchmarks, print a table, save JSON.

Without arguments every ``bench/bench_*.py`` module runs, in name order. The table format is
fixed (same columns, widths and units every run) so two runs can be diffed line by line; the
same numbers go to ``bench/results/latest.json`` with the machine description.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import bench
from bench import Section, machine_info, pin_to_one_core

RESULTS_DIR = Path(__file__).resolve().parent / "results"
NAME_WIDTH = 40


def discover() -> list[str]:
    """Names of the benchmark modules (``bench_*``), sorted."""
    return sorted(
        info.name for info in pkgutil.iter_modules(bench.__path__) if info.name.startswith("bench_")
    )


def format_section(section: Section) -> list[str]:
    """The section as fixed-width table lines (ops/s, p50 and p99 in microseconds)."""
    header = f"{'operation':<{NAME_WIDTH}} {'n':>7} {'ops/s':>12} {'p50 µs':>10} {'p99 µs':>10}"
    lines = [f"== {section.title}", header, "-" * len(header)]
    for m in section.measurements:
        lines.append(
            f"{m.name:<{NAME_WIDTH}} {m.iterations:>7d} {m.ops_per_s:>12,.0f} "
            f"{m.p50_us:>10.1f} {m.p99_us:>10.1f}"
        )
    lines.extend(f"   {note}" for note in section.notes)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the named (default: all) benchmark modules; print and save the results."""
    requested = list(argv if argv is not None else sys.argv[1:])
    names = requested or discover()
    cpu = pin_to_one_core()
    machine = machine_info()
    print(
        f"machine: {machine['cpu_model']}, {machine['cpus']} CPUs "
        f"(pinned to CPU {cpu if cpu is not None else 'n/a'}), "
        f"Python {machine['python']}, {machine['openssl']}"
    )
    sections: list[Section] = []
    started = time.monotonic()
    for name in names:
        module = importlib.import_module(f"bench.{name.removeprefix('bench.')}")
        section: Section = module.run()
        sections.append(section)
        print()
        print("\n".join(format_section(section)), flush=True)
    elapsed = time.monotonic() - started

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    target = RESULTS_DIR / "latest.json"
    document = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *requested]),
        "pinned_cpu": cpu,
        "machine": machine,
        "elapsed_s": round(elapsed, 1),
        "sections": [s.as_dict() for s in sections],
    }
    target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print()
    print(f"total {elapsed:.1f} s; results written to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
