"""Every query shape that reads ``results``, explained and timed on a kept node (issue 14,
seventh round: which index serves each).

``python -m bench.results_plans DATABASE_URL [--plans]``: for each statement (as the code
builds it, with constants of a ``bench.citygen`` node: ``BENCH-IND-07``, monthly periods), one
untimed run, then 5 timed runs; prints the median wall milliseconds and, with ``--plans``, the
plan (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL ``EXPLAIN (COSTS OFF)``). The labels name the
code that sends each statement. Read-only.
"""

from __future__ import annotations

import statistics
import sys
import time

from sqlalchemy import create_engine, text

QUERIES = [
    (
        "stored figures (import, SQLite path; change_status by indicator+period)",
        "SELECT id, status, value_text, indicator_code, period, disaggregation_key FROM "
        "results WHERE indicator_code = 'BENCH-IND-07' AND period IN ('2020-01','2020-02') "
        "AND disaggregation_key IN ('', 'SEX=F', 'BENCH_DISTRICT=D001')",
    ),
    (
        "stored figures (import, PostgreSQL join)",
        "SELECT r.id, r.status, r.value_text FROM (SELECT k.value ->> 0 AS code, k.value ->> "
        "1 AS period, k.value ->> 2 AS key FROM "
        "json_array_elements(CAST('"
        '[["BENCH-IND-07","2020-01",""],["BENCH-IND-07","2020-02","SEX=F"]]'
        "' "
        "AS json)) AS k) AS wanted JOIN results AS r ON r.indicator_code = wanted.code AND "
        "r.period = wanted.period AND r.disaggregation_key = wanted.key",
    ),
    (
        "list_results indicator, published (indicator page, API) count",
        "SELECT count(*) FROM results WHERE indicator_code = 'BENCH-IND-07' AND status = "
        "'published'",
    ),
    (
        "list_results indicator, published, ordered page",
        "SELECT * FROM results WHERE indicator_code = 'BENCH-IND-07' AND status = 'published' "
        "ORDER BY indicator_code, period_end, period_start, disaggregation_key LIMIT 2000",
    ),
    (
        "list_results indicator, all statuses (officials), ordered page",
        "SELECT * FROM results WHERE indicator_code = 'BENCH-IND-07' ORDER BY indicator_code, "
        "period_end, period_start, disaggregation_key LIMIT 2000",
    ),
    (
        "list_results status=draft (API ?status=draft) count",
        "SELECT count(*) FROM results WHERE status = 'draft'",
    ),
    (
        "list_results status=draft page",
        "SELECT * FROM results WHERE status = 'draft' ORDER BY indicator_code, period_end, "
        "period_start, disaggregation_key LIMIT 1000",
    ),
    (
        "list_results status=validated page",
        "SELECT * FROM results WHERE status = 'validated' ORDER BY indicator_code, "
        "period_end, period_start, disaggregation_key LIMIT 1000",
    ),
    (
        "list_results indicator + status=draft page",
        "SELECT * FROM results WHERE indicator_code = 'BENCH-IND-07' AND status = 'draft' "
        "ORDER BY indicator_code, period_end, period_start, disaggregation_key LIMIT 1000",
    ),
    (
        "list_results published, no filter, first page (API default)",
        "SELECT * FROM results WHERE status = 'published' ORDER BY indicator_code, "
        "period_end, period_start, disaggregation_key LIMIT 1000",
    ),
    (
        "refresh_latest seek (per breakdown and scope)",
        "SELECT period, value_text FROM results WHERE indicator_code = 'BENCH-IND-07' AND "
        "disaggregation_key = 'SEX=F' AND status IN ('published') ORDER BY period_end DESC, "
        "period_start DESC LIMIT 1",
    ),
    (
        "refresh_latest whole indicator (window, one scope)",
        "SELECT count(*) FROM (SELECT indicator_code, disaggregation_key, period, value_text, "
        "row_number() OVER (PARTITION BY indicator_code, disaggregation_key ORDER BY "
        "period_end DESC, period_start DESC) AS rank FROM results WHERE status IN "
        "('validated','published') AND indicator_code IN ('BENCH-IND-07')) AS ranked WHERE "
        "rank = 1",
    ),
    (
        "group counts recount (indicator, period)",
        "SELECT indicator_code, period, count(*) FROM results WHERE status IN ('published') "
        "AND disaggregation_key != '' AND disaggregation_key NOT LIKE '%|%' AND value_text "
        "NOT IN ('true','false') AND indicator_code = 'BENCH-IND-07' AND period = '2020-01' "
        "GROUP BY indicator_code, period",
    ),
    (
        "group counts rebuild (one indicator)",
        "SELECT indicator_code, period, count(*) FROM results WHERE status IN ('published') "
        "AND disaggregation_key != '' AND disaggregation_key NOT LIKE '%|%' AND value_text "
        "NOT IN ('true','false') AND indicator_code IN ('BENCH-IND-07') GROUP BY "
        "indicator_code, period",
    ),
    (
        "monitoring baseline figures (indicator, period) pairs",
        "SELECT indicator_code, disaggregation_key, period, value_text FROM results WHERE "
        "status IN ('validated','published') AND ((indicator_code = 'BENCH-IND-07' AND period "
        "= '2017-12') OR (indicator_code = 'BENCH-IND-08' AND period = '2017-12'))",
    ),
    (
        "overview.figures_for_charts (indicator page charts)",
        "SELECT period, disaggregation_key, value_text FROM results WHERE indicator_code = "
        "'BENCH-IND-07' AND status IN ('validated','published')",
    ),
    (
        "overview.equality_gaps chosen periods",
        "SELECT indicator_code, period, disaggregation_key, value_text FROM results WHERE "
        "status IN ('published') AND disaggregation_key != '' AND disaggregation_key NOT LIKE "
        "'%|%' AND value_text NOT IN ('true','false') AND indicator_code = 'BENCH-IND-07' AND "
        "period IN ('2017-01','2026-09','2026-10')",
    ),
    (
        "export rows of one indicator (export order)",
        "SELECT count(*) FROM (SELECT period, value_text, status, disaggregation_key, source, "
        "method, note FROM results WHERE status = 'published' AND indicator_code = "
        "'BENCH-IND-07' ORDER BY period_end, period_start, disaggregation_key) AS e",
    ),
    (
        "export count published",
        "SELECT count(*) FROM results WHERE status = 'published'",
    ),
    (
        "export distinct keys published",
        "SELECT count(*) FROM (SELECT DISTINCT disaggregation_key FROM results WHERE status = "
        "'published') AS d",
    ),
    (
        "export any text column (source) published, limit 1",
        "SELECT id FROM results WHERE status = 'published' AND source IS NOT NULL AND source "
        "!= '' LIMIT 1",
    ),
    (
        "export any text column (note) published, limit 1",
        "SELECT id FROM results WHERE status = 'published' AND note IS NOT NULL AND note != "
        "'' LIMIT 1",
    ),
    (
        "export distinct indicators published (SDMX; portal published_indicators)",
        "SELECT DISTINCT indicator_code FROM results WHERE status = 'published'",
    ),
    (
        "export distinct periods published (SDMX)",
        "SELECT count(*) FROM (SELECT DISTINCT period FROM results WHERE status = "
        "'published') AS d",
    ),
    (
        "summaries.build_payload / plan_publication (period)",
        "SELECT count(*) FROM results WHERE period = '2026-10' AND status IN "
        "('validated','published')",
    ),
    (
        "compare (periods)",
        "SELECT count(*) FROM (SELECT * FROM results WHERE period IN ('2026-10') AND status "
        "IN ('validated','published') ORDER BY indicator_code) AS c",
    ),
    (
        "portal report year (period_end range)",
        "SELECT count(*) FROM (SELECT indicator_code, period, disaggregation, value_text FROM "
        "results WHERE status = 'published' AND period_end >= '2024-01-01' AND period_end <= "
        "'2024-12-31' ORDER BY indicator_code, period_end, disaggregation_key) AS y",
    ),
    (
        "portal published_in(year)",
        "SELECT id FROM results WHERE status = 'published' AND period_end >= '2024-01-01' AND "
        "period_end <= '2024-12-31' LIMIT 1",
    ),
    (
        "portal published_in(year without figures)",
        "SELECT id FROM results WHERE status = 'published' AND period_end >= '2030-01-01' AND "
        "period_end <= '2030-12-31' LIMIT 1",
    ),
    (
        "portal published_years (min/max period_end)",
        "SELECT min(period_end), max(period_end) FROM results WHERE status = 'published'",
    ),
    (
        "portal published_years, new: first published period end",
        "SELECT period_end FROM results WHERE status = 'published' ORDER BY period_end ASC LIMIT 1",
    ),
    (
        "portal published_years, new: last published period end",
        "SELECT period_end FROM results WHERE status = 'published' ORDER BY period_end DESC "
        "LIMIT 1",
    ),
    (
        "portal published_indicators, new: from results_latest",
        "SELECT DISTINCT indicator_code FROM results_latest WHERE scope = 'published'",
    ),
    (
        "community derived (indicator, period) keys",
        "SELECT disaggregation_key FROM results WHERE indicator_code = 'BENCH-IND-07' AND "
        "period = '2020-01'",
    ),
    (
        "get_result by id",
        "SELECT * FROM results WHERE id = 500000",
    ),
]


def main() -> None:
    """Explain and time every statement of ``QUERIES`` on ``sys.argv[1]``."""
    url = sys.argv[1]
    show = "--plans" in sys.argv
    engine = create_engine(url)
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as c:
        for label, sql in QUERIES:
            if not pg and "json_array_elements" in sql:
                continue
            plan = c.execute(
                text(("EXPLAIN (COSTS OFF) " if pg else "EXPLAIN QUERY PLAN ") + sql)
            ).all()
            lines = [r[0] if pg else r[-1] for r in plan]
            c.execute(text(sql)).all()
            times = []
            for _ in range(5):
                started = time.perf_counter()
                c.execute(text(sql)).all()
                times.append((time.perf_counter() - started) * 1000)
            print(f"{statistics.median(times):9.2f} ms  {label}")
            if show:
                for line in lines:
                    print("               " + line)


if __name__ == "__main__":
    main()
