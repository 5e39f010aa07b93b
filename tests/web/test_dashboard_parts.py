"""The dashboard's parts kept per indicator (issue 14) never show stale data.

``node.data_version.cached_per_indicator`` keeps each indicator's dashboard row and gaps per
(shared version, that indicator's counter). A write path that declares the indicators it writes
(``indicator_writes``) bumps their counters only; every other watched write bumps the shared
version. The rule: whatever was written and committed before a request, the page equals the page
computed from nothing (every cache emptied). Both databases, through the ``app`` fixture.

Also pinned: the counters themselves (which write moves which), and the promise the parts exist
for: a figure or target written for one indicator makes the next dashboard compute that
indicator's part alone.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update

from node import data_version
from node.api.monitoring import progress_document
from node.db import session_scope
from node.models import DataVersion, Indicator, IndicatorVersion, LatestResult, Result
from node.permissions import OPERATOR
from node.services import monitoring, results
from node.web import views
from tests.api.test_group_counts import (
    BREAKDOWNS,
    PERIODS,
    SETTINGS,
    T0,
    _apply,
    _reset,
    operations,
)
from tests.support import Caller
from tests.web.test_dashboard_cache import CSRF, viewers  # noqa: F401 - a fixture

CODES = sorted(BREAKDOWNS)
# A published figure, entered or corrected (a correction needs a reason and a confirmation).
FIGURE = {
    "indicator": "HRC-HOU-01",
    "period": "2021",
    "value": "7",
    "status": "published",
    "reason": "revised",
    "confirm_outlier": True,
}


def _pages(clients: dict[str, FlaskClient]) -> dict[str, str]:
    """The dashboard as the public and as an official see it (CSRF tokens blanked)."""
    out = {}
    for viewer, client in sorted(clients.items()):
        response = client.get("/")
        assert response.status_code == 200
        out[viewer] = CSRF.sub(r'\1"-"', response.get_data(as_text=True))
    return out


def _fresh(clients: dict[str, FlaskClient]) -> dict[str, str]:
    for answers in (data_version.ANSWERS, data_version.PAGES, data_version.PARTS):
        answers.clear()
    return _pages(clients)


def _progress_documents(app: Flask, db: Callable[[], Any]) -> tuple[bytes, bytes]:
    """The public ``GET /api/v1/progress`` (assembled from the items kept per indicator) and
    the whole document written at once as before (``jsonify`` of every item)."""
    response = app.test_client().get("/api/v1/progress")
    assert response.status_code == 200
    with db() as session, app.test_request_context():
        items = monitoring.progress(session, published_only=True)
        whole = jsonify(progress_document(items)).get_data()
    return response.get_data(), whole


def _counters(db: Callable[[], Any]) -> tuple[int, int, dict[str, int]]:
    """(version, shared version, {indicator: counter}) as stored."""
    with db() as session:
        version, shared = session.execute(
            select(DataVersion.version, DataVersion.shared_version)
        ).one()
        rows = session.execute(select(IndicatorVersion.indicator_code, IndicatorVersion.version))
        counters = {code: counter for code, counter in rows}
    return version, shared, counters


# Writes beyond the figures' own (test_group_counts.operations): a target, a catalogue edit, and
# writes to the figures' tables that declare nothing (as a future write path might).
targets = st.tuples(
    st.just("target"),
    st.sampled_from(CODES[:3]),  # the number indicators
    st.sampled_from([{}, {"SEX": "F"}]),
    st.sampled_from(PERIODS),
    st.decimals(0, 100, places=0),
)
other_writes = st.one_of(
    targets,
    st.tuples(st.just("rename"), st.sampled_from(CODES), st.text("abc ", min_size=1, max_size=4)),
    st.tuples(st.just("undeclared latest"), st.sampled_from(CODES)),
    st.tuples(st.just("undeclared result"), st.sampled_from(CODES)),
)


def _apply_other(session: Any, operation: tuple[Any, ...], now: Any) -> None:
    kind = operation[0]
    if kind == "target":
        _, code, breakdown, period, value = operation
        monitoring.set_target(
            session,
            {
                "indicator": code,
                "disaggregation": breakdown,
                "baseline": {"period": period, "value": str(value)},
                "target": {"period": "2030", "value": str(value + 1)},
            },
            user=OPERATOR,
            now=now,
        )
    elif kind == "rename":
        session.execute(
            update(Indicator).where(Indicator.code == operation[1]).values(name=operation[2])
        )
    elif kind == "undeclared latest":
        # The latest figures dropped behind the services' back: the page changes.
        session.execute(delete(LatestResult).where(LatestResult.indicator_code == operation[1]))
    else:
        session.execute(
            update(Result).where(Result.indicator_code == operation[1]).values(status="published")
        )


@SETTINGS
@given(writes=st.lists(st.one_of(operations, other_writes), min_size=1, max_size=6))
def test_kept_parts_equal_a_fresh_page_after_any_writes(
    app: Flask,
    db: Callable[[], Any],
    viewers: dict[str, FlaskClient],  # noqa: F811 - the fixture imported above
    writes: list[tuple[Any, ...]],
) -> None:
    _reset(db)
    moment = T0
    _pages(viewers)  # parts kept from the start: each write must invalidate what it changes
    _progress_documents(app, db)
    for operation in writes:
        moment += timedelta(minutes=1)
        try:
            with db() as session:
                if operation[0] in ("record", "status", "import"):
                    _apply(session, operation, moment)
                else:
                    _apply_other(session, operation, moment)
        except Exception as exc:  # noqa: BLE001 - a refused write leaves the parts exact
            assert getattr(exc, "status", None) in (400, 404, 409, 422), exc
        kept, (document, whole) = _pages(viewers), _progress_documents(app, db)
        assert kept == _fresh(viewers), operation
        assert document == whole, operation
        _pages(viewers)  # keep the fresh parts for the next write
        _progress_documents(app, db)


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The indicators whose dashboard part each request computed (a spy around the real
    computation)."""
    calls: list[list[str]] = []
    real = views._dashboard_parts

    def spy(session: Any, public: bool, codes: Sequence[str], every: bool) -> Any:
        calls.append(sorted(codes))
        return real(session, public, codes, every)

    monkeypatch.setattr(views, "_dashboard_parts", spy)
    return calls


def test_a_figure_entered_for_one_indicator_recomputes_its_part_alone(
    app: Flask,
    db: Callable[[], Any],
    client: FlaskClient,
    official: Caller,
    computed: list[list[str]],
) -> None:
    _reset(db)
    every = sorted(code for (code,) in _all_codes(db))
    assert client.get("/").status_code == 200
    assert computed == [every]  # nothing kept yet: every indicator, in one computation
    computed.clear()
    assert client.get("/").status_code == 200
    assert computed == []  # nothing written: the page itself is kept
    with db() as session:
        results.record_results(
            session,
            [{"indicator": "HRC-HOU-01", "period": "2021", "value": "7", "status": "published"}],
            user=OPERATOR,
            now=T0,
        )
    assert client.get("/").status_code == 200
    assert computed == [["HRC-HOU-01"]]
    computed.clear()
    with db() as session:  # two indicators in one file: those two
        results.record_results(
            session,
            [
                {"indicator": "HRC-SOC-02", "period": "2021", "value": "7", "status": "published"},
                {"indicator": "HRC-EQU-01", "period": "2021", "value": "7", "status": "published"},
            ],
            user=OPERATOR,
            now=T0,
        )
    assert client.get("/").status_code == 200
    assert computed == [["HRC-EQU-01", "HRC-SOC-02"]]
    computed.clear()
    with db() as session:
        monitoring.set_target(
            session,
            {"indicator": "HRC-HOU-01", "target": {"period": "2030", "value": "1"}},
            user=OPERATOR,
            now=T0,
        )
    assert client.get("/").status_code == 200
    assert computed == [["HRC-HOU-01"]]
    computed.clear()
    with db() as session:  # the catalogue: what every part depends on
        session.execute(text("UPDATE indicators SET name = name WHERE code = 'HRC-GOV-01'"))
    assert client.get("/").status_code == 200
    assert computed == [every]


def _all_codes(db: Callable[[], Any]) -> list[tuple[str]]:
    with db() as session:
        return [(code,) for code in session.scalars(select(Indicator.code))]


def test_which_write_moves_which_counter(app: Flask, db: Callable[[], Any]) -> None:
    _reset(db)
    version, shared, counters = _counters(db)
    figure = FIGURE
    with db() as session:  # declared: that indicator's counter, once per transaction
        results.record_results(session, [figure], user=OPERATOR, now=T0)
        results.record_results(session, [{**figure, "value": "8"}], user=OPERATOR, now=T0)
    v1, s1, c1 = _counters(db)
    assert v1 > version and s1 == shared
    assert c1 == {**counters, "HRC-HOU-01": counters.get("HRC-HOU-01", 0) + 1}
    with db() as session:  # the figures' tables without a declaration: the shared version
        session.execute(update(Result).values(status="published"))
    v2, s2, c2 = _counters(db)
    assert (v2 > v1, s2, c2) == (True, s1 + 1, c1)
    # The catalogue inside a declaration is still shared.
    with db() as session, data_version.indicator_writes(session, {"HRC-SOC-02"}):
        session.execute(text("UPDATE indicators SET name = name WHERE code = 'HRC-SOC-02'"))
    v3, s3, c3 = _counters(db)
    assert s3 == s2 + 1 and c3 == {**c2, "HRC-SOC-02": c2.get("HRC-SOC-02", 0) + 1}
    with pytest.raises(RuntimeError), db() as session:  # rolled back: nothing moves
        results.record_results(session, [figure], user=OPERATOR, now=T0)
        raise RuntimeError
    assert _counters(db) == (v3, s3, c3)


def test_a_savepoint_rolled_back_does_not_hide_a_later_write_of_the_same_indicator(
    app: Flask, db: Callable[[], Any], client: FlaskClient
) -> None:
    """The counter bumped inside a savepoint goes back with it: a later declaration of the
    same indicator in the same transaction must bump it again, or its kept part is stale."""
    _reset(db)
    figure = FIGURE
    with db() as session:
        results.record_results(session, [figure], user=OPERATOR, now=T0)
    assert client.get("/").status_code == 200  # the part kept at this counter
    with db() as session:
        savepoint = session.begin_nested()
        results.record_results(session, [{**figure, "value": "9"}], user=OPERATOR, now=T0)
        savepoint.rollback()
        results.record_results(session, [{**figure, "value": "8"}], user=OPERATOR, now=T0)
    kept = client.get("/").get_data(as_text=True)
    assert "8" in _row(kept, "HRC-HOU-01")
    assert CSRF.sub("", kept) == CSRF.sub("", _fresh({"a": client})["a"])


def _row(page: str, code: str) -> str:
    start = page.index(f'<tr data-indicator="{code}"')
    return page[start : page.index("</tr>", start)]


def test_a_status_change_shows_on_the_next_page(
    app: Flask, db: Callable[[], Any], client: FlaskClient
) -> None:
    """Publishing a draft puts it on the public page at once (its indicator's part moves)."""
    _reset(db)
    draft = {"indicator": "HRC-SOC-02", "period": "2022", "value": "41.5", "status": "draft"}
    with db() as session:
        results.record_results(session, [draft], user=OPERATOR, now=T0)
    assert "41.5" not in client.get("/").get_data(as_text=True)
    with db() as session:
        results.change_status(
            session, status="published", user=OPERATOR, now=T0, indicator="HRC-SOC-02"
        )
    assert "41.5" in _row(client.get("/").get_data(as_text=True), "HRC-SOC-02")


def test_the_full_progress_document_after_a_figure_recomputes_one_item(
    app: Flask, db: Callable[[], Any], client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GET /api/v1/progress`` keeps each indicator's item too: after a figure entered for
    one indicator, that indicator's progress alone is computed again."""
    from node.api import monitoring as api

    asked: list[Any] = []
    real = api.monitoring.progress

    def spy(session: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("indicators"))
        return real(session, **kwargs)

    monkeypatch.setattr(api.monitoring, "progress", spy)
    _reset(db)
    assert client.get("/api/v1/progress").status_code == 200
    assert asked == [None]  # nothing kept: every indicator, with the plain queries
    with db() as session:
        results.record_results(session, [FIGURE], user=OPERATOR, now=T0)
    asked.clear()
    document = client.get("/api/v1/progress").get_json()
    assert asked == [["HRC-HOU-01"]]
    (row,) = [item for item in document["items"] if item["indicator"] == "HRC-HOU-01"]
    assert row["latest"] == {"period": "2021", "value": "7"}


def test_an_indicator_added_since_the_catalogue_was_listed_is_left_out(
    app: Flask, db: Callable[[], Any]
) -> None:
    """The page lists the catalogue, then computes the missing parts; with every part missing
    it reads the whole catalogue again, which may hold an indicator added in between (another
    worker's commit). That one belongs to the next page, not an error in this one."""
    _reset(db)
    with db() as session:
        results.record_results(session, [FIGURE], user=OPERATOR, now=T0)
        listed = ["HRC-HOU-01"]  # as if the others had been added after the listing
        parts = views._dashboard_parts(session, False, listed, True)
    assert set(parts) == {"HRC-HOU-01"}
    assert parts["HRC-HOU-01"]["row"]["latest"] == {"period": "2021", "value": Decimal("7")}


def test_two_writers_declaring_each_others_indicators_do_not_deadlock(
    app: Flask, db: Callable[[], Any]
) -> None:
    """PostgreSQL: every writing transaction locks the version's row before any indicator's
    row, so a writer that declares A then B and another that declares B meanwhile queue
    instead of deadlocking (the other order made PostgreSQL abort one of them)."""
    with db() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("row locks between concurrent writers: PostgreSQL (SQLite has one writer)")
    _reset(db)
    sessions = app.extensions["hrcnet"].sessions
    second_started, outcome = threading.Event(), queue.Queue()  # type: ignore[var-annotated]

    def second_writer() -> None:
        try:
            with session_scope(sessions) as session:
                session.execute(text("SET lock_timeout = '20s'"))
                second_started.set()
                with data_version.indicator_writes(session, {"HRC-SOC-02"}):
                    pass
            outcome.put("committed")
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            second_started.set()
            outcome.put(repr(exc))

    with session_scope(sessions) as first:
        first.execute(text("SET lock_timeout = '20s'"))
        with data_version.indicator_writes(first, {"HRC-HOU-01"}):
            pass
        thread = threading.Thread(target=second_writer)
        thread.start()
        assert second_started.wait(10)
        time.sleep(0.3)  # the second writer is now waiting for the first's locks
        with data_version.indicator_writes(first, {"HRC-SOC-02"}):
            pass
    thread.join(30)
    assert not thread.is_alive()
    assert outcome.get_nowait() == "committed"
    assert {code for code, _ in _counters(db)[2].items()} >= {"HRC-HOU-01", "HRC-SOC-02"}
