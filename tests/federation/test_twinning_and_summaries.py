"""Twinning handshake, summaries flowing to twins only, outages, revisions, pull."""

from __future__ import annotations

import json

from federation.envelope import envelope_sha256
from tests.federation.conftest import record, twin


def test_twinning_handshake_pins_fingerprints_both_ways(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    asked = gent.request_twin({"url": padova.base_url, "themes": ["Adequate housing"]})
    assert asked["city_id"] == "it-padova" and asked["state"] == "requested"
    (peer,) = gent.api("GET", "/peers").get_json()["items"]
    assert peer["city_id"] == "it-padova" and peer["state"] == "requested"
    assert asked["keys"] == peer["keys"]
    assert peer["keys"][0]["key_id"] == padova.key.key_id
    assert len(peer["keys"][0]["fingerprint"].replace(" ", "")) == 64
    assert gent.deliver().delivered == 1
    pending = padova.api("GET", "/peers").get_json()["items"]
    assert [(p["city_id"], p["state"], p["themes"]) for p in pending] == [
        ("be-gent", "pending", ["Adequate housing"])
    ]
    assert pending[0]["keys"][0]["key_id"] == gent.key.key_id
    assert padova.api("POST", "/peers/be-gent/accept").status_code == 200
    padova.deliver()
    states = {p["city_id"]: p["state"] for p in gent.api("GET", "/peers").get_json()["items"]}
    assert states == {"it-padova": "active"}
    again = gent.request_twin({"url": padova.base_url})
    assert (again["state"], again["code"]) == ("failed", "peer_active")


def test_decline_and_end(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    gent.request_twin({"url": padova.base_url})
    gent.deliver()
    assert padova.api("POST", "/peers/be-gent/decline").get_json()["state"] == "declined"
    padova.deliver()
    assert gent.api("GET", "/peers").get_json()["items"][0]["state"] == "declined"
    assert padova.api("POST", "/peers/be-gent/accept").status_code == 409
    assert padova.api("POST", "/peers/nobody/accept").status_code == 404


def test_summary_reaches_twins_only_and_is_verified(network) -> None:
    gent, padova, graz = network("be-gent", "it-padova", "at-graz")
    twin(gent, padova)
    record(gent, "2025", {"HRC-HOU-01": "12.50", "HRC-EDU-01": "3.1"})
    published = gent.api("POST", "/summaries", {"period": "2025"})
    assert published.status_code == 201, published.get_json()
    [summary] = published.get_json()["items"]
    assert summary["audience"] == ["it-padova"] and summary["revision"] == 1
    report = gent.deliver()
    assert report.delivered == 1
    received = padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]
    assert len(received) == 1
    item = received[0]
    assert item["current"] and item["period"] == "2025" and item["verified"]
    assert (
        item["envelope_sha256"]
        == summary["envelope_sha256"]
        == envelope_sha256(json.loads(item["envelope"]))
    )
    values = {
        i["code"]: i["results"][0]["value"]
        for i in json.loads(item["envelope"])["payload"]["indicators"]
    }
    assert values == {"HRC-HOU-01": "12.50", "HRC-EDU-01": "3.1"}
    # Graz is not twinned: nothing was sent there, and it has nothing.
    assert all("127.0.0.1:5103" not in url for _method, url in gent.router.sent)
    assert graz.api("GET", "/peers").get_json()["items"] == []


def test_scope_limits_what_leaves_the_node(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova, themes=["Education"])
    record(gent, "2025", {"HRC-HOU-01": "12.5", "HRC-EDU-01": "3.1"})
    gent.api("POST", "/summaries", {"period": "2025"})
    gent.deliver()
    [item] = padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]
    assert [i["code"] for i in json.loads(item["envelope"])["payload"]["indicators"]] == [
        "HRC-EDU-01"
    ]


def test_small_cells_are_suppressed(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    response = gent.api(
        "POST",
        "/results",
        [
            {"indicator": "HRC-HOU-01", "period": "2025", "value": "12.5", "status": "validated"},
            {
                "indicator": "HRC-HOU-01",
                "period": "2025",
                "value": "40",
                "status": "validated",
                "disaggregation": {"SEX": "F"},
                "cases": 3,
            },
            {
                "indicator": "HRC-HOU-01",
                "period": "2025",
                "value": "41",
                "status": "validated",
                "disaggregation": {"SEX": "M"},
                "cases": 30,
            },
        ],
    )
    assert response.status_code == 201
    gent.api("POST", "/summaries", {"period": "2025"})
    gent.deliver()
    [item] = padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]
    payload = json.loads(item["envelope"])["payload"]
    figures = payload["indicators"][0]["results"]
    assert [f["disaggregation"] for f in figures] == [{}, {"SEX": "M"}]
    assert payload["suppressed_cells"] == 1


def test_outage_three_revisions_each_exactly_once_newest_current(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    padova.set_down(True)
    for value in ("10", "11", "12"):
        record(gent, "2025", {"HRC-HOU-01": value})
        assert gent.api("POST", "/summaries", {"period": "2025"}).status_code == 201
        report = gent.deliver()
        assert report.delivered == 0 and "it-padova" in report.failed_destinations
    status = gent.api("GET", "/federation/status").get_json()["items"][0]
    assert status["queue_length"] == 3 and status["failures"] >= 1
    assert status["next_attempt_at"] is not None
    padova.set_down(False)
    assert gent.deliver().delivered == 3
    padova.pull()  # push and pull converge: nothing new, nothing duplicated
    items = padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]
    assert [(i["revision"], i["current"]) for i in items] == [(1, False), (2, False), (3, True)]
    current = json.loads(items[-1]["envelope"])["payload"]["indicators"][0]["results"][0]["value"]
    assert current == "12"


def test_pull_catches_up_when_push_never_came(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    record(gent, "2025", {"HRC-HOU-01": "10"})
    gent.api("POST", "/summaries", {"period": "2025"})
    record(gent, "2025", {"HRC-HOU-01": "11"})
    gent.api("POST", "/summaries", {"period": "2025"})
    # Gent never delivers (say it crashed); Padova pulls.
    results = padova.pull()
    assert results["be-gent"] == (2, None)
    items = padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]
    assert [i["via"] for i in items] == ["pull", "pull"]
    # Gent's own delivery afterwards is a harmless duplicate.
    assert gent.deliver().delivered == 2
    assert len(padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]) == 2


def test_publish_needs_validated_results_and_a_role(network) -> None:
    [gent] = network("be-gent")
    nothing = gent.api("POST", "/summaries", {"period": "2031"})
    assert nothing.status_code == 422 and nothing.get_json()["code"] == "nothing_to_publish"
    assert gent.api("POST", "/summaries", {"period": "2025"}, token=None).status_code == 401
    bad = gent.api("POST", "/summaries", {"period": "20x5"})
    assert (bad.status_code, bad.get_json()["code"]) == (422, "validation_failed")


def test_own_summaries_list_shows_deliveries(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    record(gent, "2025", {"HRC-HOU-01": "10"})
    gent.api("POST", "/summaries", {"period": "2025"})
    gent.deliver()
    [own] = gent.api("GET", "/summaries").get_json()["items"]
    assert own["deliveries"] == [
        {
            "destination": "it-padova",
            "state": "delivered",
            "attempts": 1,
            "last_status": 202,
            "last_error": None,
        }
    ]
    raw = gent.app.test_client().get("/federation/v1/keys")
    assert json.loads(raw.data)["payload"]["verify_keys"]


def test_unavailable_after_seven_days_then_only_the_newest_revision(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    padova.set_down(True)
    for value in ("10", "11", "12"):
        record(gent, "2025", {"HRC-HOU-01": value})
        gent.api("POST", "/summaries", {"period": "2025"})
    gent.deliver()
    gent.clock.advance(days=8)
    gent.deliver()  # still failing after more than 7 days
    [status] = gent.api("GET", "/federation/status").get_json()["items"]
    assert status["unavailable"] is True and status["failures"] >= 2
    padova.set_down(False)
    report = gent.deliver()
    # After a long outage only the newest revision per period is sent; older ones are skipped.
    assert (report.delivered, report.skipped) == (1, 2)
    items = padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]
    assert [(i["revision"], i["current"]) for i in items] == [(3, True)]
    [status] = gent.api("GET", "/federation/status").get_json()["items"]
    assert status["unavailable"] is False and status["queue_length"] == 0
