"""The first request after a write, timed in wall and CPU time, on a kept node (issue 14).

``python -m bench.cold_requests NODE_DIR PATH[,PATH...]`` (``URL=`` a database URL for a node
on PostgreSQL; ``N=`` requests per path, default 5; ``PROF=1`` a cProfile of one more each):
creates the app on the node (Flask test client, in-process), makes one warm request per path,
then per path N times: an untimed write, then the request,
timed with ``perf_counter`` (wall) and ``process_time`` (CPU of this process: SQLite's work is
in it, a PostgreSQL server's is not). Prints the sorted ``wall/CPU`` milliseconds per path.
Run the code as it was with ``PYTHONPATH=<an older tree>`` (``git archive``), same environment.

The write (``WRITE=``): ``catalogue`` (default) moves the data version without changing a figure
(``UPDATE indicators SET name = name``, as ``bench_city``'s "(cold)" rows): every answer is
computed again. ``figure`` is an official's daily work: one figure of ``BENCH-IND-07`` entered
through the results service (its latest month, district D000, the value changing each time),
after which only that indicator's parts are computed again.
"""

from __future__ import annotations

import cProfile
import itertools
import os
import pstats
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bench.citygen import entered_figure
from node.app import create_app
from node.db import session_scope
from node.permissions import OPERATOR
from node.services import results


def main(argv: list[str]) -> int:
    """Time the cold requests of ``argv[1]``'s paths on the node in ``argv[0]``."""
    url = os.environ.get("URL")
    app = create_app(Path(argv[0]), {"database_url": url} if url else {})
    client = app.test_client()
    paths = argv[1].split(",")
    count = int(os.environ.get("N", "5"))

    kind = os.environ.get("WRITE", "catalogue")
    if kind not in ("catalogue", "figure"):
        raise SystemExit(f"WRITE must be catalogue or figure, not {kind!r}")
    entered = itertools.count(1)

    def write() -> None:
        with session_scope(app.extensions["hrcnet"].sessions) as session:
            if kind == "catalogue":
                session.execute(
                    text("UPDATE indicators SET name = name WHERE code = 'BENCH-IND-07'")
                )
                return
            figure = entered_figure(str(50 + next(entered) % 7))
            results.record_results(session, [figure], user=OPERATOR, now=datetime.now(UTC))

    def get(path: str) -> None:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        response.close()

    for path in paths:
        get(path)
    for path in paths:
        times = []
        for _ in range(count):
            write()
            wall, cpu = time.perf_counter(), time.process_time()
            get(path)
            times.append((time.perf_counter() - wall, time.process_time() - cpu))
        shown = [f"{w * 1000:.0f}/{c * 1000:.0f}" for w, c in sorted(times)]
        print(path, "cold wall/CPU ms:", shown)
        if os.environ.get("ORDER"):
            print("  in order:", [f"{w * 1000:.0f}" for w, _ in times])
    if os.environ.get("PROF"):
        for path in paths:
            write()
            profile = cProfile.Profile()
            profile.enable()
            get(path)
            profile.disable()
            print("=====", path)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(35)
    app.extensions["hrcnet"].engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
