"""A city node at scale (issue 14): progress, dashboard, import and export on a generated node.

``HRCNET_BENCH_RESULTS`` sets the node's size (default 100,000; ``1000000`` for the issue's
million). The node comes from :mod:`bench.citygen` (SQLite; PostgreSQL too when
``NODE_TEST_POSTGRES_URL`` is set). Each row stands beside its reference measured in the same
run:

- ``GET /healthz`` through the same Flask app (the cheapest route) is the reference of
  ``GET /api/v1/progress?indicator=X``, ``GET /api/v1/progress`` and the dashboard page ``/``;
- import and export run in a child process each, so their peak memory is their own: the child
  reports ``VmHWM`` (peak RSS, from ``/proc/self/status``) before and after; the reference of
  an import is reading the same file's bytes and splitting its lines (``csv.reader``), of an
  export the same number of rows read with one plain ``SELECT`` and written by ``csv.writer``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import Measurement, Section, measure
from bench.citygen import DISTRICT_DIM, generate, result_rows

ENV_RESULTS = "HRCNET_BENCH_RESULTS"
NOW = datetime(2027, 1, 20, tzinfo=UTC)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def import_csv(count: int, *, seed: int) -> bytes:
    """``count`` figures in our own layout (all published), different values from the node's."""
    rows, _targets, _per, _months, _districts = result_rows(count, seed=seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["indicator", "period", "value", "status", DISTRICT_DIM, "SEX", "AGE_GROUP"])
    for row in rows:
        breakdown = row["disaggregation"]
        writer.writerow(
            [
                row["indicator_code"],
                row["period"],
                row["value_text"],
                "published",
                breakdown.get(DISTRICT_DIM, ""),
                breakdown.get("SEX", ""),
                breakdown.get("AGE_GROUP", ""),
            ]
        )
    return buffer.getvalue().encode()


def _child(action: str, data_dir: str, arg: str, url: str) -> dict[str, Any]:
    """Run in a child process (``python -m bench.bench_city ACTION DIR ARG URL``): one
    operation. ``URL`` is the database (``-``: the node's SQLite file)."""
    from node.config import load_config
    from node.db import make_engine, make_sessionmaker, session_scope
    from node.permissions import OPERATOR
    from node.services import exchange

    config = load_config(Path(data_dir), {} if url == "-" else {"database_url": url})
    engine = make_engine(config.database_url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as session:  # warm: catalogue and connection, like a worker
        exchange.export(session, "csv", config=config, indicator="BENCH-IND-01", now=NOW)
    before = _status_kb("VmHWM")
    started = time.perf_counter()
    size = 0
    if action == "import":
        data = Path(arg).read_bytes()
        with session_scope(sessions) as session:
            # Every figure is published and rewritten: the reason and the confirmation the
            # import asks for since issue 15 (their history lines are part of the measured work).
            report = exchange.import_file(
                session,
                "bench.csv",
                data,
                user=OPERATOR,
                now=NOW,
                layout="own",
                reason="benchmark rewrite",
                confirm_outliers=True,
            )
            size = report.imported
    elif action == "import-reference":
        data = Path(arg).read_bytes()
        size = sum(1 for _ in csv.reader(io.StringIO(data.decode())))
    elif action == "export":
        with session_scope(sessions) as session:
            media, body = exchange.export(session, arg, config=config, now=NOW)
            size = sum(len(chunk) for chunk in ([body] if isinstance(body, str) else body))
    elif action == "export-reference":
        with engine.connect() as connection:
            out = io.StringIO()
            writer = csv.writer(out)
            for row in connection.exec_driver_sql(
                "SELECT indicator_code, period, value_text, status, disaggregation_key "
                "FROM results WHERE status = 'published'"
            ):
                writer.writerow(row)
                if out.tell() > 1 << 20:
                    size += out.tell()
                    out.seek(0)
                    out.truncate()
            size += out.tell()
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "peak_before_mb": before / 1024,
        "peak_mb": _status_kb("VmHWM") / 1024,
        "size": size,
    }


def _run_child(action: str, data_dir: Path, arg: str, url: str | None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_city", action, str(data_dir), arg, url or "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _one_shot(name: str, child: dict[str, Any], count: int, note: str) -> Measurement:
    seconds = child["seconds"]
    return Measurement(
        name,
        1,
        seconds,
        count / seconds if seconds else 0.0,
        seconds * 1e6,
        seconds * 1e6,
        f"{note}; peak RSS {child['peak_mb']:.0f} MB (process before: "
        f"{child['peak_before_mb']:.0f} MB)",
    )


def _http_rows(label: str, data_dir: Path, url: str | None, section: Section, results: int) -> None:
    from node.app import create_app

    app = create_app(data_dir, {"database_url": url} if url else {})
    client = app.test_client()

    def getter(path: str) -> Any:
        def call(_arg: Any) -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            response.close()

        return call

    for name, path in [
        ("GET /healthz (reference)", "/healthz"),
        ("GET /api/v1/progress?indicator=X", "/api/v1/progress?indicator=BENCH-IND-07"),
        ("GET /api/v1/progress", "/api/v1/progress"),
        ("dashboard page /", "/"),
    ]:
        section.measurements.append(
            measure(f"{label} {results // 1000}k: {name}", getter(path), budget_s=3.0)
        )
    app.extensions["hrcnet"].engine.dispose()


def _run_backend(label: str, database_url: str | None, section: Section, results: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="hrcnet-bench-city-"))
    try:
        made = generate(work / "node", results, database_url=database_url)
        section.notes.append(
            f"{label}: generated {made.results:,} results (25 indicators x "
            f"{made.breakdowns_per_indicator} breakdowns x {made.months} months, targets set) "
            f"in {made.seconds:.1f} s"
        )
        _http_rows(label, made.data_dir, database_url, section, results)
        file = work / "import.csv"
        file.write_bytes(import_csv(100_000, seed=2))
        reference = _run_child("import-reference", made.data_dir, str(file), database_url)
        section.measurements.append(
            _one_shot(
                f"{label} {results // 1000}k: read + split 100k CSV rows (ref.)",
                reference,
                100_000,
                "csv.reader over the file",
            )
        )
        imported = _run_child("import", made.data_dir, str(file), database_url)
        section.measurements.append(
            _one_shot(
                f"{label} {results // 1000}k: import 100k rows (CSV)",
                imported,
                imported["size"],
                "exchange.import_file, updates of existing figures, one commit",
            )
        )
        reference = _run_child("export-reference", made.data_dir, "csv", database_url)
        section.measurements.append(
            _one_shot(
                f"{label} {results // 1000}k: SELECT + csv.writer (ref.)",
                reference,
                results,
                "plain rows of published results",
            )
        )
        for fmt in ("csv", "json", "sdmx-json"):
            exported = _run_child("export", made.data_dir, fmt, database_url)
            section.measurements.append(
                _one_shot(
                    f"{label} {results // 1000}k: export {fmt}",
                    exported,
                    results,
                    f"{exported['size'] / 1e6:.0f} MB",
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run() -> Section:
    results = int(os.environ.get(ENV_RESULTS, "100000"))
    section = Section(f"city node at scale ({results:,} results)")
    _run_backend("SQLite", None, section, results)
    admin = os.environ.get("NODE_TEST_POSTGRES_URL")
    if admin:
        import psycopg

        name = f"hrc_city_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            _run_backend("PostgreSQL", admin.rsplit("/", 1)[0] + f"/{name}", section, results)
        finally:
            with psycopg.connect(admin.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        section.notes.append("PostgreSQL: skipped (NODE_TEST_POSTGRES_URL not set)")
    return section


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])))
