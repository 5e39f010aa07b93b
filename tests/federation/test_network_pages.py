"""Peer pages and the comparison view: a twin's figures beside ours."""

from __future__ import annotations

import pytest

from tests.federation.conftest import Node, record, twin
from tests.support import Caller
from tests.web.test_pages import csrf_token, login


def caller(node: Node) -> Caller:
    return Caller(
        f"official@{node.city_id}.example", "official", node.token, "correct horse battery"
    )


def test_comparison_api_and_page(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    record(gent, "2025", {"HRC-HOU-01": "12.5", "HRC-EDU-01": "3.1"})
    record(padova, "2025", {"HRC-HOU-01": "9.75"})
    # A local indicator of Gent that maps to a core code Padova reports too.
    local = {
        "code": "GENT-HOMELESS",
        "name": "Homeless count",
        "right": "Adequate housing",
        "type": "outcome",
        "value_type": "number",
        "unit": {"code": "PERSONS", "label": "persons"},
        "direction": "good_down",
        "disaggregations": [],
        "core": False,
        "maps_to": "HRC-HOU-04",
    }
    assert gent.api("POST", "/indicators", local).status_code == 201
    record(gent, "2025", {"GENT-HOMELESS": "410"})
    record(padova, "2025", {"HRC-HOU-04": "38"})
    gent.api("POST", "/summaries", {"period": "2025"})
    gent.deliver()
    rows = padova.api("GET", "/peers/be-gent/comparison?period=2025").get_json()["items"]
    assert [(r["indicator"], r["ours"], r["theirs"]) for r in rows] == [
        ("HRC-HOU-01", "9.75", "12.5"),
        ("HRC-HOU-04", "38", "410"),
    ]
    assert padova.api("GET", "/peers/nobody/comparison").status_code == 404

    web = padova.app.test_client()
    login(web, caller(padova))
    page = web.get("/peers/be-gent?period=2025")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="comparison"' in html
    assert "9.75" in html and "12.5" in html and "verified" in html


def test_a_citys_own_core_figure_wins_over_its_mapped_local_ones(network) -> None:
    """Both cities report HRC-HOU-04 directly and through a local indicator mapped to it (a
    count beside a rate, as Los Angeles does): the comparison pairs the direct figures, whatever
    order the figures come in (the mapped code sorts after the core one; ours is recorded first)."""
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    for node, code in ((gent, "ZZ-GENT-RATE"), (padova, "ZZ-PADOVA-RATE")):
        local = {
            "code": code,
            "name": "Homelessness rate",
            "right": "Adequate housing",
            "type": "outcome",
            "value_type": "number",
            "unit": {"code": "PERCENT", "label": "%"},
            "direction": "good_down",
            "disaggregations": [],
            "core": False,
            "maps_to": "HRC-HOU-04",
        }
        assert node.api("POST", "/indicators", local).status_code == 201
    record(gent, "2025", {"HRC-HOU-04": "400", "ZZ-GENT-RATE": "0.5"})
    record(padova, "2025", {"ZZ-PADOVA-RATE": "1.04"})
    record(padova, "2025", {"HRC-HOU-04": "38"})
    assert gent.api("POST", "/summaries", {"period": "2025"}).status_code == 201
    gent.deliver()
    rows = padova.api("GET", "/peers/be-gent/comparison?period=2025").get_json()["items"]
    assert [(r["indicator"], r["ours"], r["theirs"]) for r in rows] == [("HRC-HOU-04", "38", "400")]


def test_twinning_and_publishing_from_the_pages(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    web = gent.app.test_client()
    login(web, caller(gent))
    token = csrf_token(web, "/peers")
    asked = web.post("/peers", data={"csrf_token": token, "url": padova.base_url, "themes": ""})
    assert asked.status_code == 302
    # Queued, not fetched in the request: the page says so, the job discovers the node.
    html = web.get("/peers").get_data(as_text=True)
    assert "checked within a minute" in html and "it-padova" not in html
    assert 'class="fp"' not in html
    gent.sync()
    html = web.get("/peers").get_data(as_text=True)
    assert "it-padova" in html and "requested" in html and 'class="fp"' in html
    assert "request sent" in html  # the queued request's row, with the fingerprint
    gent.deliver()

    other = padova.app.test_client()
    login(other, caller(padova))
    token = csrf_token(other, "/peers")
    assert other.post("/peers/be-gent/accept", data={"csrf_token": token}).status_code == 302
    assert other.post("/peers/be-gent/accept", data={}).status_code == 400  # no CSRF token
    padova.deliver()
    assert "active" in web.get("/peers").get_data(as_text=True)

    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    token = csrf_token(web, "/peers")
    published = web.post(
        "/summaries/publish", data={"csrf_token": token, "period": "2025"}, follow_redirects=True
    )
    assert "revision 1" in published.get_data(as_text=True)
    status = web.get("/network/status")
    assert status.status_code == 200 and "it-padova" in status.get_data(as_text=True)


@pytest.mark.parametrize("period", ["2025-13", "2025-00", "2025-Q5", "20x5", ""])
def test_publishing_a_malformed_period_is_refused_on_the_page(network, period: str) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    web = gent.app.test_client()
    login(web, caller(gent))
    token = csrf_token(web, "/peers")
    answer = web.post(
        "/summaries/publish", data={"csrf_token": token, "period": period}, follow_redirects=True
    )
    assert answer.status_code == 200
    assert "is not a period" in answer.get_data(as_text=True) or not period
    assert gent.api("GET", "/summaries").get_json()["items"] == []  # nothing signed or queued


def test_pages_check_roles(network, create_user=None) -> None:
    [gent] = network("be-gent")
    from node.db import session_scope
    from node.services import users

    with session_scope(gent.runtime.sessions) as session:
        users.create_user(
            session,
            email="cso@gent.example",
            password="correct horse battery",
            role="cso_partner",
            now=gent.clock(),
        )
    web = gent.app.test_client()
    login(web, Caller("cso@gent.example", "cso_partner", "", "correct horse battery"))
    assert web.get("/network/status").status_code == 403
    assert web.get("/peers").status_code == 200  # cso partners may see who we twin with
    token = csrf_token(web, "/peers")
    assert web.post("/peers/x/accept", data={"csrf_token": token}).status_code == 403
