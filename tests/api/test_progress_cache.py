"""Progress and the dashboard cached per data version never answer from stale data.

``node.data_version`` keeps answers per (database epoch, version); every write to results,
targets or the catalogue bumps the version in its own transaction. The rule: whatever was
written and committed before a request, by this process or another one, the answer equals the
plain definition over the stored rows (``plain_progress`` of test_fast_paths, itself the rule of
docs/protocol.md). Both databases, through the ``app`` fixture.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from flask import Flask, jsonify
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text

from node import data_version
from node.api.monitoring import PROGRESS_LIST
from node.models import DataVersion, Indicator
from node.permissions import OPERATOR
from node.services import monitoring, results
from tests.api.test_fast_paths import (
    PERIODS,
    SETTINGS,
    STATUSES,
    T0,
    _reset,
    figures,
    plain_progress,
    targets,
)

ROUTES = [None, "HRC-HOU-01", "HRC-GOV-01"]


def _expected(app: Flask, db: Callable[[], Any], indicator: str | None) -> Any:
    """The public answer by the plain definition, dumped and encoded as the route does."""
    with db() as session, app.test_request_context():
        items = plain_progress(session, published_only=True, indicator=indicator)
        return json.loads(jsonify(PROGRESS_LIST.dump({"items": items})).get_data())


def _get(client: FlaskClient, indicator: str | None) -> Any:
    url = "/api/v1/progress" + (f"?indicator={indicator}" if indicator else "")
    response = client.get(url)
    assert response.status_code == 200
    return response.get_json()


def _version(db: Callable[[], Any]) -> int:
    with db() as session:
        return session.scalars(select(DataVersion.version)).one()


@SETTINGS
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("record"), figures(max_size=6)),
            st.tuples(st.just("status"), st.sampled_from(STATUSES), st.sampled_from(PERIODS)),
            st.tuples(st.just("target"), targets()),
            st.tuples(st.just("rename"), st.sampled_from(["A", "B"])),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_every_answer_after_a_write_equals_the_plain_definition(
    app: Flask, client: FlaskClient, db: Callable[[], Any], steps: list[tuple[Any, ...]]
) -> None:
    _reset(db)
    moment = T0
    for route in ROUTES:  # warm every cached answer
        assert _get(client, route) == _expected(app, db, route)
    for step in steps:
        moment += timedelta(minutes=1)
        with db() as session:  # a unit of work of its own, as another worker's would be
            if step[0] == "record":
                results.record_results(session, step[1], user=OPERATOR, now=moment)
            elif step[0] == "status":
                # A reason: taking validated or published figures back to draft needs one
                # (``reason_required``), and this step may do so.
                results.change_status(
                    session,
                    status=step[1],
                    user=OPERATOR,
                    now=moment,
                    period=step[2],
                    reason="a step of the property test",
                )
            elif step[0] == "target":
                for goal in step[1]:
                    monitoring.set_target(session, goal, user=OPERATOR, now=moment)
            else:  # a catalogue write: the name is part of every answer
                indicator = session.get(Indicator, "HRC-HOU-01")
                indicator.name = f"Housing {step[1]}"
        for route in ROUTES:
            assert _get(client, route) == _expected(app, db, route)


def test_each_write_bumps_the_version_once_committed_and_not_on_rollback(
    app: Flask, db: Callable[[], Any]
) -> None:
    before = _version(db)
    with db() as session:
        monitoring.set_target(
            session,
            {
                "indicator": "HRC-HOU-01",
                "disaggregation": {},
                "baseline": {"period": "2020", "value": Decimal(10)},
                "target": {"period": "2030", "value": Decimal(5)},
            },
            user=OPERATOR,
            now=T0,
        )
    assert _version(db) > before
    committed = _version(db)
    runtime = app.extensions["hrcnet"]
    session = runtime.sessions()
    try:
        session.execute(text("UPDATE targets SET target_value = '4'"))
        session.rollback()
    finally:
        session.close()
    assert _version(db) == committed  # the bump rolled back with the write


def test_a_transaction_that_wrote_neither_reads_nor_fills_the_cache(
    app: Flask, client: FlaskClient, db: Callable[[], Any]
) -> None:
    _reset(db)
    data_version.ANSWERS.clear()
    runtime = app.extensions["hrcnet"]
    session = runtime.sessions()
    try:
        results.record_results(
            session,
            [
                {
                    "indicator": "HRC-GOV-01",
                    "period": "2021",
                    "value": True,
                    "status": "published",
                    "disaggregation": {},
                }
            ],
            user=OPERATOR,
            now=T0,
        )
        seen = data_version.cached(
            session,
            ("api.progress", True, None),
            lambda: monitoring.progress(session, published_only=True),
        )
        gov = next(row for row in seen if row["indicator"] == "HRC-GOV-01")
        assert gov["latest"] == {"period": "2021", "value": True}  # its own write, seen
        assert not data_version.ANSWERS.entries  # uncommitted data never cached
        session.rollback()
    finally:
        session.close()
    assert _get(client, None) == _expected(app, db, None)
