"""One import into a generated node, timed in its own process, then rolled back (issue 14).

``python -m bench.import_once NODE_DIR FILE [--url URL] [--reference] [--profile]``: opens the
node (its SQLite file, or ``--url``), warms it with one export, imports ``FILE`` in our own layout
with ``exchange.import_file`` (every figure published, ``reason`` and ``confirm_outliers``
given, as ``bench_city`` does), then rolls back, so the node can be measured again. Prints wall
and CPU seconds (``time.process_time``: this process only, not the database server's) and the
peak RSS (``VmHWM``). ``--reference``: in the same process after it, ``csv.reader`` over the same
file and one plain ``executemany`` UPDATE of as many rows by id, rolled back too. Run the code
as it was with ``PYTHONPATH=<an older tree>`` (``git archive``), same virtual environment.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from node.config import load_config
from node.db import make_engine, make_sessionmaker
from node.permissions import OPERATOR
from node.services import exchange

NOW = datetime(2027, 1, 20, tzinfo=UTC)


def _peak_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def _backend_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of the PostgreSQL backend ``pid`` so far (a server on this
    machine: ``/proc/<pid>/stat``); 0.0 when there is none (SQLite)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.import_once", description=__doc__)
    parser.add_argument("node_dir", type=Path)
    parser.add_argument("file", type=Path)
    parser.add_argument("--url")
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    config = load_config(args.node_dir, {"database_url": args.url} if args.url else {})
    engine = make_engine(config.database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:  # warm: catalogue and connection, like a worker
        _media, body = exchange.export(
            session, "csv", config=config, indicator="BENCH-IND-01", now=NOW
        )
        sum(len(chunk) for chunk in body)
        session.rollback()
    profile = cProfile.Profile() if args.profile else None
    with sessions() as session, args.file.open("rb") as data:
        # pysqlite opens no transaction before a SAVEPOINT: without a first write the import's
        # savepoint would be the transaction and its release would commit it.
        session.execute(text("UPDATE results SET id = id WHERE id = -1"))
        backend = (
            session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            if engine.dialect.name == "postgresql"
            else None
        )
        server = _backend_cpu(backend)
        wall, cpu = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
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
        session.flush()
        if profile is not None:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        server = _backend_cpu(backend) - server
        session.rollback()
    server_note = f" (server backend {server:.2f} CPU-s)" if backend is not None else ""
    print(
        f"import: {wall:.2f} s wall, {cpu:.2f} CPU-s{server_note}, imported {report.imported} (new "
        f"{report.new}, changed {report.changed}, unchanged {report.unchanged}), "
        f"peak {_peak_mb()} MB"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    if args.reference:
        with engine.connect() as connection:
            backend = (
                connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
                if engine.dialect.name == "postgresql"
                else None
            )
            ids = [
                row[0]
                for row in connection.exec_driver_sql(
                    f"SELECT id FROM results ORDER BY id LIMIT {report.imported}"  # noqa: S608
                )
            ]
            server = _backend_cpu(backend)
            wall, cpu = time.perf_counter(), time.process_time()
            rows = list(csv.reader(io.StringIO(args.file.read_bytes().decode())))[1:]
            mark = "?" if engine.dialect.name == "sqlite" else "%s"
            connection.exec_driver_sql(
                f"UPDATE results SET value_text = {mark} WHERE id = {mark}",  # noqa: S608
                [(row[2], id_) for row, id_ in zip(rows, ids, strict=False)],
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            server = _backend_cpu(backend) - server
            connection.rollback()
        server_note = f" (server backend {server:.2f} CPU-s)" if backend is not None else ""
        print(f"reference: {wall:.2f} s wall, {cpu:.2f} CPU-s{server_note}")
    engine.dispose()


if __name__ == "__main__":
    main()
