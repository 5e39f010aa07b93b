"""Exports of a kept node, timed in their own process (issue 14, seventh round).

``python -m bench.export_once NODE_DIR`` (``URL=`` a database URL for a node on PostgreSQL):
``exchange.export`` of the whole node in CSV, JSON and SDMX-JSON, and of ``BENCH-IND-07`` in
CSV and SDMX-JSON, each consumed to the end; prints wall and CPU seconds (this process only,
not a PostgreSQL server's) and the size in characters.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from node.config import load_config
from node.db import make_engine, make_sessionmaker, session_scope
from node.services import exchange

NOW = datetime(2027, 1, 20, tzinfo=UTC)
RUNS = (
    ("csv", None),
    ("json", None),
    ("sdmx-json", None),
    ("csv", "BENCH-IND-07"),
    ("sdmx-json", "BENCH-IND-07"),
)


def main(argv: list[str]) -> int:
    """Time the exports of the node in ``argv[0]``."""
    url = os.environ.get("URL")
    config = load_config(Path(argv[0]), {"database_url": url} if url else {})
    engine = make_engine(config.database_url)
    sessions = make_sessionmaker(engine)
    for fmt, indicator in RUNS:
        with session_scope(sessions) as session:
            wall, cpu = time.perf_counter(), time.process_time()
            _media_type, body = exchange.export(
                session, fmt, config=config, indicator=indicator, now=NOW
            )
            size = sum(len(chunk) for chunk in body)
            print(
                f"export {fmt:9s} {indicator or 'all':12s} {time.perf_counter() - wall:6.2f} s "
                f"wall {time.process_time() - cpu:6.2f} CPU-s {size:,} chars"
            )
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
