"""Figures that can be trusted (issue 15): unit checks, outlier warnings, reasons, history.

Expected answers come from the rules (``docs/results.md``), never from the code under test:
a percentage is within 0-100, a count a whole number 0 or more, a rate per N between 0 and N; a
value more than 10 points (percentages) or more than double / less than half (other numbers)
from the previous period's is refused until confirmed; changing a validated or published figure
needs a reason, and every change is a history line (who, when, old → new, why, and the signed
summaries a vouched figure was in). Every refusal checks its ``code`` and that nothing was
written, history included.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.errors import InvalidInputError
from node.models import ResultChange
from node.network import summaries
from node.permissions import OPERATOR
from node.runtime import NodeRuntime
from node.services import exchange
from tests.support import Caller

PERCENT = "HRC-EDU-03"  # PT, broken down by DISTRICT
RATE = "HRC-HOU-01"  # PER_10K_HH: households per 10,000 households, by SEX
COUNT = "GENT-CNT-01"  # a local indicator counted in people (unit COUNT), added below


def post(client: FlaskClient, who: Caller, body: Any) -> Any:
    return client.post("/api/v1/results", json=body, headers=who.headers)


def figure(indicator: str, period: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"indicator": indicator, "period": period, "value": value, **extra}


def stored(client: FlaskClient, who: Caller, indicator: str) -> list[tuple[str, str, str]]:
    body = client.get(f"/api/v1/results?indicator={indicator}", headers=who.headers).get_json()
    return [(i["period"], i["value"], i["status"]) for i in body["items"]]


def history_lines(db: Callable[[], Any]) -> int:
    with db() as session:
        return int(session.scalar(select(func.count()).select_from(ResultChange)) or 0)


def history(client: FlaskClient, who: Caller, indicator: str, period: str) -> list[dict[str, Any]]:
    body = client.get(f"/api/v1/results?indicator={indicator}", headers=who.headers).get_json()
    [item] = [i for i in body["items"] if i["period"] == period and not i["disaggregation"]]
    answer = client.get(f"/api/v1/results/{item['id']}/history", headers=who.headers)
    assert answer.status_code == 200, answer.get_json()
    changes: list[dict[str, Any]] = answer.get_json()["changes"]
    return changes


@pytest.fixture
def count_indicator(db: Callable[[], Any], clock: Any) -> str:
    document = {
        "indicators": [
            {
                "code": COUNT,
                "name": "People sleeping rough (street count)",
                "right": "Right to adequate housing",
                "type": "outcome",
                "value_type": "number",
                "unit": {"code": "COUNT", "label": "persons"},
                "direction": "good_down",
                "disaggregations": [],
            }
        ]
    }
    with db() as session:
        exchange.apply_catalogue_additions(session, document, now=clock())
    return COUNT


# --- unit checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "status", "code"),
    [
        ("-0.01", 422, "value_out_of_range"),
        ("0", 201, None),
        ("100", 201, None),
        ("100.01", 422, "value_out_of_range"),
        ("150", 422, "value_out_of_range"),  # the 150 and -5
        ("-5", 422, "value_out_of_range"),
    ],
)
def test_a_percentage_is_within_0_and_100(
    client: FlaskClient,
    official: Caller,
    db: Callable[[], Any],
    value: str,
    status: int,
    code: str | None,
) -> None:
    answer = post(client, official, figure(PERCENT, "2025", value))
    assert answer.status_code == status, answer.get_json()
    if code is None:
        assert stored(client, official, PERCENT) == [("2025", value, "draft")]
        return
    body = answer.get_json()
    assert body["code"] == code and body["error_codes"] == [code]
    assert "between 0 and 100" in body["errors"]["0"]["value"][0]
    assert stored(client, official, PERCENT) == []
    assert history_lines(db) == 0


@pytest.mark.parametrize(
    ("value", "status", "code"),
    [
        ("-1", 422, "value_out_of_range"),
        ("0", 201, None),
        ("3", 201, None),
        ("2.5", 422, "value_not_whole_number"),
    ],
)
def test_a_count_is_a_whole_number_0_or_more(
    client: FlaskClient,
    official: Caller,
    db: Callable[[], Any],
    count_indicator: str,
    value: str,
    status: int,
    code: str | None,
) -> None:
    answer = post(client, official, figure(count_indicator, "2025", value))
    assert answer.status_code == status, answer.get_json()
    if code is not None:
        assert answer.get_json()["code"] == code
        assert stored(client, official, count_indicator) == []
        assert history_lines(db) == 0


@pytest.mark.parametrize(
    ("value", "status"),
    [("-0.01", 422), ("0", 201), ("10000", 201), ("10000.01", 422)],
)
def test_a_rate_is_between_0_and_its_base(
    client: FlaskClient, official: Caller, db: Callable[[], Any], value: str, status: int
) -> None:
    answer = post(client, official, figure(RATE, "2025", value))
    assert answer.status_code == status, answer.get_json()
    if status == 422:
        assert answer.get_json()["code"] == "value_out_of_range"
        assert stored(client, official, RATE) == [] and history_lines(db) == 0


def test_one_bad_figure_in_a_batch_writes_none_and_mixed_problems_say_each_code(
    client: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    batch = [
        figure(PERCENT, "2024", "40"),
        figure(PERCENT, "2025", "101"),
        figure(RATE, "2025", "-1"),
        figure(RATE, "2025-13", "1"),
    ]
    answer = post(client, official, batch)
    body = answer.get_json()
    assert answer.status_code == 422 and body["code"] == "validation_failed"
    assert body["error_codes"] == ["validation_failed", "value_out_of_range"]
    assert set(body["errors"]) == {"1", "2", "3"}
    assert stored(client, official, PERCENT) == [] and history_lines(db) == 0


def test_an_import_row_breaking_its_unit_is_named_with_its_code(
    client: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    text = f"indicator,period,value\n{PERCENT},2024,40\n{PERCENT},2025,150\n{RATE},2025,-2\n"
    answer = upload(client, official, text)
    body = answer.get_json()
    assert answer.status_code == 422 and body["code"] == "import_rejected"
    assert [(e["row"], e["column"], e["code"]) for e in body["errors"]] == [
        (3, "value", "value_out_of_range"),
        (4, "value", "value_out_of_range"),
    ]
    assert stored(client, official, PERCENT) == [] and history_lines(db) == 0


# --- outliers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "outlier"), [("30", False), ("30.01", True), ("10", False), ("9.99", True)]
)
def test_a_percentage_far_from_last_period_needs_confirming(
    client: FlaskClient, official: Caller, db: Callable[[], Any], new: str, outlier: bool
) -> None:
    assert post(client, official, figure(PERCENT, "2024", "20")).status_code == 201
    answer = post(client, official, figure(PERCENT, "2025", new))
    if not outlier:
        assert answer.status_code == 201
        return
    body = answer.get_json()
    assert answer.status_code == 422 and body["code"] == "outlier_unconfirmed"
    assert "2024" in body["errors"]["0"]["value"][0] and "confirm" in body["detail"] + str(body)
    assert stored(client, official, PERCENT) == [("2024", "20", "draft")]
    assert history_lines(db) == 1  # the 2024 figure's creation, nothing of 2025
    confirmed = post(client, official, figure(PERCENT, "2025", new, confirm_outlier=True))
    assert confirmed.status_code == 201
    assert stored(client, official, PERCENT)[-1] == ("2025", new, "draft")


@pytest.mark.parametrize(
    ("new", "outlier"), [("20", False), ("20.01", True), ("5", False), ("4.99", True)]
)
def test_a_rate_more_than_double_or_less_than_half_needs_confirming(
    client: FlaskClient, official: Caller, new: str, outlier: bool
) -> None:
    # Same breakdown only: the total's previous value, quarter against the quarter before.
    post(
        client,
        official,
        [
            figure(RATE, "2024-Q4", "10"),
            figure(RATE, "2024-Q4", "1000", disaggregation={"SEX": "F"}),
        ],
    )
    answer = post(client, official, figure(RATE, "2025-Q1", new))
    assert answer.status_code == (422 if outlier else 201), answer.get_json()


def test_a_series_in_one_request_is_checked_year_against_year(
    client: FlaskClient, official: Caller
) -> None:
    answer = post(
        client, official, [figure(PERCENT, "2024", "19.2"), figure(PERCENT, "2025", "92")]
    )
    body = answer.get_json()
    assert answer.status_code == 422 and set(body["errors"]) == {"1"}
    assert stored(client, official, PERCENT) == []


def test_an_unchanged_value_is_never_an_outlier(client: FlaskClient, official: Caller) -> None:
    post(
        client,
        official,
        [figure(PERCENT, "2024", "10"), figure(PERCENT, "2025", "50", confirm_outlier=True)],
    )
    again = post(client, official, figure(PERCENT, "2025", "50", note="source checked"))
    assert again.status_code == 201


# --- reasons and history ----------------------------------------------------------------------


def test_a_published_figure_changes_only_with_a_reason_and_keeps_its_history(
    client: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    post(client, official, figure(PERCENT, "2025", "19.2", status="published"))
    refused = post(client, official, figure(PERCENT, "2025", "20", status="published"))
    body = refused.get_json()
    assert refused.status_code == 422 and body["code"] == "reason_required"
    assert "published" in body["errors"]["0"]["reason"][0]
    assert stored(client, official, PERCENT) == [("2025", "19.2", "published")]
    assert history_lines(db) == 1
    blank = post(client, official, figure(PERCENT, "2025", "20", status="published", reason=" "))
    assert blank.get_json()["code"] == "reason_required"  # a blank reason is no reason
    ok = post(
        client,
        official,
        figure(PERCENT, "2025", "20", status="published", reason="Census correction"),
    )
    assert ok.status_code == 201
    lines = history(client, official, PERCENT, "2025")
    assert [
        (c["old_value"], c["new_value"], c["old_status"], c["new_status"], c["reason"])
        for c in lines
    ] == [
        (None, "19.2", None, "published", None),
        ("19.2", "20", "published", "published", "Census correction"),
    ]
    assert {c["changed_by"] for c in lines} == {official.email}
    assert lines[1]["affected_summaries"] == []  # nothing was signed yet


def test_a_validated_figure_needs_a_reason_a_draft_does_not(
    client: FlaskClient, official: Caller
) -> None:
    post(
        client,
        official,
        [figure(PERCENT, "2024", "10"), figure(PERCENT, "2023", "10", status="validated")],
    )
    assert post(client, official, figure(PERCENT, "2024", "11")).status_code == 201
    refused = post(client, official, figure(PERCENT, "2023", "11", status="validated"))
    assert refused.get_json()["code"] == "reason_required"
    # Taking a vouched figure back to draft is a change too.
    back = post(client, official, figure(PERCENT, "2023", "10", status="draft"))
    assert back.get_json()["code"] == "reason_required"
    # Raising a status with the same value needs none (that is what validating is).
    assert (
        post(client, official, figure(PERCENT, "2024", "11", status="published")).status_code == 201
    )


def test_a_collector_still_cannot_touch_a_vouched_figure(
    client: FlaskClient,
    official: Caller,
    create_user: Callable[..., Caller],
    db: Callable[[], Any],
) -> None:
    post(client, official, figure(PERCENT, "2025", "19.2", status="published"))
    collector = create_user("data_collector")
    answer = post(client, collector, figure(PERCENT, "2025", "20", reason="I think so"))
    assert answer.status_code == 403 and answer.get_json()["code"] == "result_locked"
    assert history_lines(db) == 1


def test_status_changes_are_history_and_taking_back_needs_a_reason(
    client: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    post(client, official, figure(PERCENT, "2025", "19.2"))
    url = "/api/v1/results/status"
    publish = {"status": "published", "indicator": PERCENT}
    assert client.post(url, json=publish, headers=official.headers).get_json() == {"changed": 1}
    back = client.post(
        url, json={"status": "draft", "indicator": PERCENT}, headers=official.headers
    )
    assert back.status_code == 422 and back.get_json()["code"] == "reason_required"
    assert stored(client, official, PERCENT) == [("2025", "19.2", "published")]
    assert history_lines(db) == 2
    ok = client.post(
        url,
        json={"status": "draft", "indicator": PERCENT, "reason": "recount"},
        headers=official.headers,
    )
    assert ok.get_json() == {"changed": 1}
    lines = history(client, official, PERCENT, "2025")
    assert [(c["old_status"], c["new_status"], c["reason"]) for c in lines] == [
        (None, "draft", None),
        ("draft", "published", None),
        ("published", "draft", "recount"),
    ]


def test_a_change_names_the_signed_summaries_that_carried_the_old_value(
    client: FlaskClient, official: Caller
) -> None:
    post(
        client,
        official,
        [
            figure(PERCENT, "2025", "19.2", status="published"),
            figure(PERCENT, "2024", "18", status="published"),
        ],
    )
    signed = client.post("/api/v1/summaries", json={"period": "2025"}, headers=official.headers)
    assert signed.status_code == 201, signed.get_json()
    [envelope] = signed.get_json()["items"]
    post(client, official, figure(PERCENT, "2025", "20", status="published", reason="typo"))
    post(client, official, figure(PERCENT, "2024", "18.5", status="published", reason="typo"))
    [_created, changed] = history(client, official, PERCENT, "2025")
    assert changed["affected_summaries"] == [
        {"period": "2025", "revision": 1, "sha256": envelope["envelope_sha256"], "audience": []}
    ]
    # 2024 was never in a signed summary.
    assert history(client, official, PERCENT, "2024")[1]["affected_summaries"] == []
    # Once republished, the next correction names the new revision only.
    again = client.post("/api/v1/summaries", json={"period": "2025"}, headers=official.headers)
    [second] = again.get_json()["items"]
    post(client, official, figure(PERCENT, "2025", "20.5", status="published", reason="again"))
    last = history(client, official, PERCENT, "2025")[-1]
    assert [s["sha256"] for s in last["affected_summaries"]] == [second["envelope_sha256"]]


def test_history_is_for_city_staff_and_unknown_figures_are_404(
    client: FlaskClient, official: Caller
) -> None:
    post(client, official, figure(PERCENT, "2025", "19.2", status="published"))
    item_id = client.get("/api/v1/results", headers=official.headers).get_json()["items"][0]["id"]
    anonymous = client.get(f"/api/v1/results/{item_id}/history")
    assert anonymous.status_code == 401
    assert anonymous.get_json()["code"] == "authentication_required"
    missing = client.get("/api/v1/results/999999/history", headers=official.headers)
    assert missing.status_code == 404 and missing.get_json()["code"] == "result_not_found"


# --- imports ----------------------------------------------------------------------------------


def upload(client: FlaskClient, who: Caller, text: str, **form: Any) -> Any:
    return client.post(
        "/api/v1/results/import",
        data={"layout": "own", "file": (io.BytesIO(text.encode()), "figures.csv"), **form},
        content_type="multipart/form-data",
        headers=who.headers,
    )


FILE = (
    "indicator,period,value,status\n"
    f"{PERCENT},2021,19.2,published\n"
    f"{PERCENT},2022,19.4,published\n"
    f"{PERCENT},2023,19.9,published\n"
    f"{PERCENT},2024,20.1,draft\n"
    f"{PERCENT},2025,20.3,draft\n"
)


def test_importing_the_same_file_again_says_what_happened(
    client: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    first = upload(client, official, FILE).get_json()
    assert (first["new"], first["changed"], first["unchanged"]) == (5, 0, 0)
    again = upload(client, official, FILE).get_json()
    assert (again["new"], again["changed"], again["unchanged"]) == (0, 0, 5)
    assert history_lines(db) == 5  # an unchanged figure gets no line
    edited = FILE.replace("2022,19.4", "2022,19.5").replace("2024,20.1", "2024,20.2")
    refused = upload(client, official, edited)
    body = refused.get_json()
    assert refused.status_code == 422 and body["code"] == "reason_required"
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(3, "reason")]
    assert (body["new"], body["changed"], body["unchanged"]) == (0, 2, 3)
    assert "2 changed" in body["detail"] and "reason" in body["detail"]
    assert history_lines(db) == 5
    ok = upload(client, official, edited, reason="Statistics office revision").get_json()
    assert (ok["new"], ok["changed"], ok["unchanged"]) == (0, 2, 3)
    assert history(client, official, PERCENT, "2022")[-1]["reason"] == (
        "Statistics office revision"
    )


def test_an_import_lists_the_rows_that_need_confirming(
    client: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    jumpy = FILE.replace("2023,19.9", "2023,91.9")  # 2023 jumps, and 2024 jumps back
    refused = upload(client, official, jumpy)
    body = refused.get_json()
    assert refused.status_code == 422 and body["code"] == "outlier_unconfirmed"
    assert [(e["row"], e["code"]) for e in body["errors"]] == [
        (4, "outlier_unconfirmed"),
        (5, "outlier_unconfirmed"),
    ]
    assert stored(client, official, PERCENT) == [] and history_lines(db) == 0
    ok = upload(client, official, jumpy, confirm_outliers="true")
    assert ok.status_code == 201 and ok.get_json()["new"] == 5


def test_an_import_report_names_the_summaries_a_correction_affects(
    client: FlaskClient, official: Caller
) -> None:
    upload(client, official, FILE)
    signed = client.post("/api/v1/summaries", json={"period": "2022"}, headers=official.headers)
    [envelope] = signed.get_json()["items"]
    edited = FILE.replace("2022,19.4", "2022,19.5")
    report = upload(client, official, edited, reason="revision").get_json()
    assert [s["sha256"] for s in report["affected_summaries"]] == [envelope["envelope_sha256"]]


def test_a_malformed_period_at_publish_is_a_readable_refusal(app: Flask, db: Any) -> None:
    # Issue 15: "2025-13" was an Internal Server Error on the page; every caller gets 422.
    config = app.extensions["hrcnet"].config
    assert isinstance(app.extensions["hrcnet"], NodeRuntime)
    for period in ("2025-13", "2025-Q5", ""):
        with db() as session, pytest.raises(InvalidInputError) as caught:
            summaries.publish_summary(session, config, period, user=OPERATOR, now=None)  # type: ignore[arg-type]
        assert caught.value.code == "invalid_period"
