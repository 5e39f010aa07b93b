"""What one inbox ingest costs on PostgreSQL: its statements, client CPU, wall and server CPU.

``NODE_TEST_POSTGRES_URL=… python -m bench.ingest_cost [N]`` (or inside
``scripts/with-postgres.sh``): the same throwaway node and 350-figure documents as
``bench_federation``'s ``PostgreSQL inbox ingest`` row. Prints the statements one ingest sends
(``before_cursor_execute``: an executemany counts once), then ``N`` ingests' (default 300)
client CPU p50 and mean (``time.process_time``), wall p50, and the server backends' CPU per
ingest (``/proc/<pid>/stat`` of the throwaway database's backends: a server on this machine).
Issue 14, sixth round; run the code as it was with ``PYTHONPATH=<an older tree>``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench import bench_federation as federation
from federation.keys import SigningKey

_seen: list[str] = []
_counting = [False]


@event.listens_for(Engine, "before_cursor_execute")
def _note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
    if _counting[0]:
        _seen.append(" ".join(statement.split())[:120])


def _backends_cpu(database: str) -> float:
    """CPU seconds so far of the server processes serving ``database`` (on this machine)."""
    total = 0.0
    marker = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "cmdline").read_bytes().replace(b"\0", b" "):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    payload = federation.summary_payload()
    key = SigningKey.from_seed(bytes(range(32)))
    module = federation.inbox_module()
    with (
        federation.postgres_database() as url,
        federation.ingest_node(module, key, payload, database_url=url) as (ingest, prepare),
    ):
        if url is None:
            raise SystemExit("NODE_TEST_POSTGRES_URL is not set (use scripts/with-postgres.sh)")
        database = url.rsplit("/", 1)[1]
        for warm in range(1, 4):
            ingest(prepare(-warm))
        _counting[0] = True
        ingest(prepare(0))
        _counting[0] = False
        for statement in _seen:
            print(statement)
        print(f"{len(_seen)} statements for one summary")
        documents = [prepare(i) for i in range(1, count + 1)]
        cpu: list[float] = []
        wall: list[float] = []
        server = _backends_cpu(database)
        for raw in documents:
            started, used = time.perf_counter(), time.process_time()
            ingest(raw)
            cpu.append(time.process_time() - used)
            wall.append(time.perf_counter() - started)
        server = _backends_cpu(database) - server
        print(
            f"{count} ingests: client CPU p50 {statistics.median(cpu) * 1e3:.2f} ms, mean "
            f"{statistics.mean(cpu) * 1e3:.2f} ms; wall p50 {statistics.median(wall) * 1e3:.2f} "
            f"ms; server {server / count * 1e3:.2f} CPU-ms per ingest; load "
            f"{os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
