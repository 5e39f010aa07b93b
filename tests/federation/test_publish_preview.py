"""The publish preview: exactly what will be shared with whom, before anything is signed.

Built by ``summaries.plan_publication``, the very function ``publish_summary`` signs from: the
preview's payload must equal the signed one, and showing it must sign, store and queue nothing.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from node.db import session_scope
from node.network import summaries
from node.network.models import OutEnvelope
from node.services import users
from tests.federation.conftest import Node, twin
from tests.support import Caller
from tests.web.test_pages import csrf_token, login


def caller(node: Node) -> Caller:
    return Caller(
        f"official@{node.city_id}.example", "official", node.token, "correct horse battery"
    )


def _record(node: Node) -> None:
    items = [
        {"indicator": "HRC-HOU-01", "period": "2025", "value": "12.5", "status": "validated"},
        {"indicator": "HRC-HOU-01", "period": "2025", "value": "14.1", "status": "validated",
         "disaggregation": {"SEX": "F"}, "cases": 240},
        # Resting on 3 households: below the threshold of 5, it must stay home.
        {"indicator": "HRC-HOU-01", "period": "2025", "value": "40", "status": "validated",
         "disaggregation": {"TENURE": "RENT_SOC"}, "cases": 3},
    ]  # fmt: skip
    answer = node.api("POST", "/results", items)
    assert answer.status_code == 201, answer.get_json()


def _envelopes(node: Node) -> int:
    with session_scope(node.runtime.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(OutEnvelope)) or 0)


def test_the_preview_shows_twins_figures_and_held_back_cells_and_signs_nothing(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    _record(gent)
    before = _envelopes(gent)
    web = gent.app.test_client()
    login(web, caller(gent))
    page = web.get("/summaries/preview?period=2025")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "it-padova" in html and "Padova" in html  # with whom
    shared = html[html.index("Figures that will be shared") : html.index("Held back")]
    held = html[html.index("Held back") :]
    assert "12.5" in shared and "14.1" in shared and "40" not in shared
    assert "HRC-HOU-01" in held and "Tenant in social" in held
    assert _envelopes(gent) == before  # nothing signed, stored or queued
    # The page's publish button signs the same period.
    token = csrf_token(web, "/summaries/preview?period=2025")
    done = web.post(
        "/summaries/publish", data={"csrf_token": token, "period": "2025"}, follow_redirects=True
    )
    assert "revision 1" in done.get_data(as_text=True)
    assert _envelopes(gent) == before + 1


def test_the_preview_is_exactly_what_is_signed(network) -> None:
    gent, padova, lyon = network("be-gent", "it-padova", "fr-lyon")
    twin(gent, padova)
    twin(gent, lyon, themes=["Adequate housing"])
    _record(gent)
    gent.api("POST", "/results", [
        {"indicator": "HRC-EDU-01", "period": "2025", "value": "7.5", "status": "validated"}
    ])  # fmt: skip
    runtime = gent.runtime
    with session_scope(runtime.sessions) as session:
        planned = summaries.plan_publication(session, runtime.config, "2025")
    with session_scope(runtime.sessions) as session:
        signed = summaries.publish_summary(
            session, runtime.config, "2025", user=users.find_user(session, caller(gent).email),
            now=gent.clock(),
        )  # fmt: skip
        signed_payloads = {tuple(e.audience): json.loads(e.raw)["payload"] for e in signed}
    assert {tuple(p.audience): p.payload for p in planned} == signed_payloads
    # Two scopes: Lyon sees housing only; Padova every theme.
    by_audience = {tuple(p.audience): p for p in planned}
    lyon_codes = {i["code"] for i in by_audience[("fr-lyon",)].payload["indicators"]}
    padova_codes = {i["code"] for i in by_audience[("it-padova",)].payload["indicators"]}
    assert lyon_codes == {"HRC-HOU-01"} and padova_codes == {"HRC-HOU-01", "HRC-EDU-01"}
    assert [r.disaggregation for r in by_audience[("it-padova",)].suppressed] == [
        {"TENURE": "RENT_SOC"}
    ]


@pytest.mark.parametrize("period", ["2025-13", "20x5", "2031"])
def test_a_bad_or_empty_period_is_a_message_on_the_preview(network, period: str) -> None:
    [gent] = network("be-gent")
    _record(gent)
    web = gent.app.test_client()
    login(web, caller(gent))
    page = web.get(f"/summaries/preview?period={period}")
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert re.search(r'aria-invalid="true"', html) and 'id="preview-period-error"' in html
    assert _envelopes(gent) == 0


@pytest.mark.parametrize("role", ["data_collector", "viewer", "cso_partner"])
def test_only_those_who_publish_see_the_preview(network, role: str) -> None:
    [gent] = network("be-gent")
    _record(gent)
    with session_scope(gent.runtime.sessions) as session:
        users.create_user(
            session, email=f"{role}@gent.example", password="correct horse battery",
            role=role, now=gent.clock(),
        )  # fmt: skip
    web = gent.app.test_client()
    login(web, Caller(f"{role}@gent.example", role, "", "correct horse battery"))
    assert web.get("/summaries/preview?period=2025").status_code == 403
