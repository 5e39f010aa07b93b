"""The entry and import pages apply issue 15's checks and show a figure's history.

A percentage of 150 is refused beside its field; a value far from the previous period's asks
for a tick and a second save; a published figure changes only with a reason, and the indicator
page and the figure's own page then show who changed it, when, from what to what and why.
Every refusal checks that nothing was written (the figure and its history).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.models import Result, ResultChange
from tests.support import Caller
from tests.web.test_pages import csrf_token, login

PERCENT = "HRC-EDU-03"  # PT, by DISTRICT


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def entry(client: FlaskClient, value: str, **extra: Any) -> Any:
    data = {
        "csrf_token": csrf_token(client, f"/enter?indicator={PERCENT}"),
        "indicator": PERCENT,
        "period": extra.pop("period", "2025"),
        "value": value,
        "status": extra.pop("status", "published"),
        "dim_DISTRICT": "_T",
        **extra,
    }
    return client.post(f"/enter?indicator={PERCENT}", data=data)


def counts(db: Callable[[], Any]) -> tuple[int, int]:
    with db() as session:
        figures = session.scalar(select(func.count()).select_from(Result)) or 0
        lines = session.scalar(select(func.count()).select_from(ResultChange)) or 0
    return int(figures), int(lines)


def test_a_percentage_over_100_is_refused_beside_its_field(
    web: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    login(web, official)
    answer = entry(web, "150")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert re.search(
        r'<input[^>]*aria-invalid="true"[^>]*id="value"|<input[^>]*id="value"'
        r'[^>]*aria-invalid="true"',
        html,
    ), html
    assert 'id="value-error"' in html and "between 0 and 100" in html
    assert counts(db) == (0, 0)


def test_an_outlier_asks_for_a_tick_then_saves(
    web: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    login(web, official)
    assert entry(web, "19.2", period="2024").status_code == 302
    warned = entry(web, "45")
    html = warned.get_data(as_text=True)
    assert warned.status_code == 422
    assert 'id="outlier-warning"' in html and 'name="confirm_outlier"' in html
    assert "2024" in html
    assert counts(db) == (1, 1)
    saved = entry(web, "45", confirm_outlier="y")
    assert saved.status_code == 302
    assert counts(db) == (2, 2)


def test_a_published_figure_is_corrected_with_a_reason_and_its_history_shows(
    web: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    login(web, official)
    assert entry(web, "19.2").status_code == 302
    page = web.get(f"/enter?indicator={PERCENT}").get_data(as_text=True)
    assert 'name="confirm_outlier"' not in page  # only after a warning
    refused = entry(web, "20")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'id="reason-error"' in html and "say why it changes" in html
    assert counts(db) == (1, 1)
    saved = entry(web, "20", reason="Census correction")
    assert saved.status_code == 302
    indicator = web.get(f"/catalogue/{PERCENT}").get_data(as_text=True)
    assert 'id="history"' in indicator and "Census correction" in indicator
    assert official.email in indicator
    with db() as session:
        figure_id = session.scalars(select(Result.id)).one()
    own = web.get(f"/results/{figure_id}/history")
    text = own.get_data(as_text=True)
    assert own.status_code == 200
    assert re.search(r"19\.2 \(published\)\s*→\s*20 \(published\)", text), text
    assert "Census correction" in text


def test_the_public_sees_no_history(web: FlaskClient, official: Caller) -> None:
    login(web, official)
    entry(web, "19.2")
    web.post("/logout", data={"csrf_token": csrf_token(web, "/")})
    public = web.get(f"/catalogue/{PERCENT}").get_data(as_text=True)
    assert 'id="history"' not in public
    assert web.get("/results/1/history").status_code == 302  # sign in first


def upload(client: FlaskClient, text: str, **form: Any) -> Any:
    return client.post(
        "/import",
        data={
            "csrf_token": csrf_token(client, "/import"),
            "layout": "own",
            "file": (io.BytesIO(text.encode()), "figures.csv"),
            **form,
        },
        content_type="multipart/form-data",
    )


FILE = (
    f"indicator,period,value,status\n{PERCENT},2023,19.9,published\n{PERCENT},2024,20.1,published\n"
)


def test_the_import_page_says_what_happened_and_asks_for_reasons_and_ticks(
    web: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    login(web, official)
    first = upload(web, FILE).get_data(as_text=True)
    assert "2 new, 0 changed, 0 unchanged" in first
    again = upload(web, FILE).get_data(as_text=True)
    assert "0 new, 0 changed, 2 unchanged" in again
    edited = FILE.replace("2024,20.1", "2024,21")
    refused = upload(web, edited)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'id="row-3"' in html and "(needs a reason)" in html
    assert 'id="reason-error"' in html
    assert counts(db) == (2, 2)
    ok = upload(web, edited, reason="Revised by the statistics office")
    assert "0 new, 1 changed, 1 unchanged" in ok.get_data(as_text=True)
    jumpy = FILE.replace("2024,20.1", "2024,80").replace("2023", "2022").replace("2024", "2023")
    warned = upload(web, jumpy).get_data(as_text=True)
    assert "(needs your confirmation)" in warned and 'name="confirm_outliers"' in warned
    assert counts(db) == (2, 3)
