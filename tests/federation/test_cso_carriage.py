"""Civil-society figures carried to twins with the CSO's consent (issue 16, "carried in summaries
to twins when the CSO agrees").

Expected answers from the rule: without consent nothing leaves the node (no outbox row, nothing
at the twin, even by pull); with consent the twin verifies the signed statement like any
envelope and shows it beside its view of the city's figures, labelled as the CSO's and never in
the official comparison; a forged, altered, unconsented or non-twin statement is refused with
its code and nothing is stored; a signed withdrawal makes the twin stop showing it (and say so).
Real nodes in one process (tests/federation/conftest.py), real SQLite, real signatures.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from federation.canonical import canonical_bytes
from federation.envelope import make_envelope, sign_envelope
from node.db import session_scope
from node.models import ReceivedCsoStatement
from node.network.models import InEnvelope, OutboxItem, OutEnvelope
from node.services import users
from tests.federation.conftest import BACKENDS, Node, record, twin
from tests.federation.test_inbox_refusals import expect, post
from tests.support import Caller
from tests.web.test_pages import login

pytestmark = pytest.mark.parametrize("federation_backend", BACKENDS, indirect=True)

ORGANISATION = "Housing Watch Gent"
FIGURE = {
    "indicator": "HRC-HOU-01",
    "period": "2025",
    "value": "140.5",
    "organisation": ORGANISATION,
    "method": "door-to-door survey of 1,200 households",
    "source": "Housing Watch annual survey 2025",
}


def cso_partner(node: Node) -> Caller:
    """A CSO partner account on ``node`` (its own token and password)."""
    email = f"cso-{len(node.extra)}@{node.city_id}.example"
    with session_scope(node.runtime.sessions) as session:
        user = users.create_user(
            session,
            email=email,
            password="correct horse battery",
            role="cso_partner",
            now=node.clock(),
            node_role="city",
        )
        token = users.create_token(session, user, now=node.clock())
    node.extra[email] = token
    return Caller(email, "cso_partner", token, "correct horse battery")


def official(node: Node) -> Caller:
    return Caller(
        f"official@{node.city_id}.example", "official", node.token, "correct horse battery"
    )


def publish_figure(node: Node, cso: Caller, **changes: Any) -> dict[str, Any]:
    created = node.api("POST", "/cso-figures", {**FIGURE, **changes}, token=cso.token)
    assert created.status_code == 201, created.get_json()
    published = node.api(
        "POST", f"/cso-figures/{created.get_json()['id']}/publish", token=cso.token
    )
    assert published.status_code == 200, published.get_json()
    body: dict[str, Any] = published.get_json()
    return body


def received_rows(node: Node) -> list[tuple[str, str, str, bool]]:
    """(origin, organisation, value, withdrawn) of every CSO statement ``node`` holds."""
    with session_scope(node.runtime.sessions) as session:
        return [
            (r.origin, r.organisation, r.value_text, r.withdrawn_at is not None)
            for r in session.scalars(select(ReceivedCsoStatement).order_by(ReceivedCsoStatement.id))
        ]


def in_envelopes(node: Node) -> int:
    with session_scope(node.runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(InEnvelope)) or 0


def queued_types(node: Node) -> list[tuple[str, str]]:
    """(destination, envelope type) of every outbox row of ``node``."""
    with session_scope(node.runtime.sessions) as session:
        rows = session.execute(
            select(OutboxItem.destination, OutEnvelope.type)
            .join(OutEnvelope, OutEnvelope.seq == OutboxItem.seq)
            .order_by(OutboxItem.seq)
        ).all()
        return [(destination, type_) for destination, type_ in rows]


def statement_raw(node: Node, sha256: str) -> str:
    with session_scope(node.runtime.sessions) as session:
        raw = session.scalar(select(OutEnvelope.raw).where(OutEnvelope.sha256 == sha256))
        assert raw is not None
        return raw


def peer_page(node: Node, city_id: str, query: str = "") -> str:
    web = node.app.test_client()
    login(web, official(node))
    page = web.get(f"/peers/{city_id}{query}")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def table(html: str, table_id: str) -> str:
    match = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    return match.group(0) if match else ""


@pytest.fixture
def pair(network):  # type: ignore[no-untyped-def]
    gent, padova, graz = network("be-gent", "it-padova", "at-graz")
    twin(gent, padova)
    return gent, padova, graz


def test_without_consent_nothing_leaves_the_node(pair) -> None:
    gent, padova, _graz = pair
    cso = cso_partner(gent)
    figure = publish_figure(gent, cso)  # consent not given: the default
    assert figure["share_with_twins"] is False and figure["shared_with"] == []
    envelope = json.loads(statement_raw(gent, figure["statement_sha256"]))
    assert envelope["audience"] == [] and envelope["payload"]["shared_with_twins"] is False
    assert ("it-padova", "hrc.cso_statement") not in queued_types(gent)
    gent.deliver()
    padova.pull()  # the catch-up path serves a twin only what is addressed to it
    assert received_rows(padova) == []
    assert ORGANISATION not in peer_page(padova, "be-gent")


def test_with_consent_the_twin_verifies_and_shows_it_beside_never_merged(pair) -> None:
    gent, padova, graz = pair
    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    gent.api("POST", "/summaries", {"period": "2025"})
    record(padova, "2025", {"HRC-HOU-01": "9.75"})
    cso = cso_partner(gent)
    figure = publish_figure(gent, cso, share_with_twins=True)
    assert figure["shared_with"] == ["it-padova"]
    envelope = json.loads(statement_raw(gent, figure["statement_sha256"]))
    assert envelope["audience"] == ["it-padova"]
    assert envelope["payload"]["shared_with_twins"] is True
    assert envelope["payload"]["official"] is False
    assert ("it-padova", "hrc.cso_statement") in queued_types(gent)
    assert ("at-graz", "hrc.cso_statement") not in queued_types(gent)  # not a twin
    gent.deliver()
    assert received_rows(padova) == [("be-gent", ORGANISATION, "140.5", False)]
    html = peer_page(padova, "be-gent", "?period=2025")
    comparison, cso_table = table(html, "comparison"), table(html, "twin-cso-figures")
    # The official comparison is untouched: Gent's official 12.5 beside Padova's 9.75 ...
    assert "12.5" in comparison and "9.75" in comparison
    assert "140.5" not in comparison and ORGANISATION not in comparison
    # ... and the CSO's figure is in its own table, labelled, linking its signed statement.
    assert "140.5" in cso_table and ORGANISATION in cso_table
    assert "Figures from civil society in" in html and "not the city" in html
    assert f"/public/cso-statements/{figure['statement_sha256']}" in cso_table
    assert received_rows(graz) == []
    [item] = padova.api("GET", "/peers/be-gent/cso-statements").get_json()["items"]
    assert (item["organisation"], item["value"], item["withdrawn_at"]) == (
        ORGANISATION,
        "140.5",
        None,
    )
    assert item["statement_sha256"] == figure["statement_sha256"]
    assert padova.api("GET", "/peers/be-gent/cso-statements", token=None).status_code == 401


def test_a_twin_that_missed_the_push_catches_up_by_pull(pair) -> None:
    gent, padova, _graz = pair
    cso = cso_partner(gent)
    padova.set_down(True)
    publish_figure(gent, cso, share_with_twins=True)
    assert gent.deliver().delivered == 0
    padova.set_down(False)
    padova.pull()
    assert received_rows(padova) == [("be-gent", ORGANISATION, "140.5", False)]


def test_an_altered_statement_is_refused_and_nothing_is_stored(pair) -> None:
    gent, padova, _graz = pair
    cso = cso_partner(gent)
    padova.set_down(True)  # keep the genuine one from arriving: only the altered copy does
    figure = publish_figure(gent, cso, share_with_twins=True)
    altered = json.loads(statement_raw(gent, figure["statement_sha256"]))
    altered["payload"]["value"] = "14.5"  # a figure the CSO never stated
    before = in_envelopes(padova)
    expect(post(gent, padova, canonical_bytes(altered)), 401, "bad_signature")
    assert received_rows(padova) == [] and in_envelopes(padova) == before


def statement_payload(origin_city: str, **changes: Any) -> dict[str, Any]:
    return {
        "city": origin_city,
        "organisation": ORGANISATION,
        "indicator": "HRC-HOU-01",
        "right": "Adequate housing",
        "period": "2025",
        "disaggregation": {},
        "value": "140.5",
        "method": "survey",
        "source": "report",
        "note": None,
        "official": False,
        "shared_with_twins": True,
        **changes,
    }


def signed_statement(sender: Node, to: Node, seq: int, payload: dict[str, Any]) -> bytes:
    """A statement signed by ``sender``'s real key, built here from the protocol's rules."""
    env = make_envelope(
        "hrc.cso_statement",
        "hrc.cso_statement/2",
        sender.city_id,
        "cso-statements",
        seq,
        int(sender.clock().timestamp() * 1000),
        sender.key.key_id,
        [to.city_id],
        payload,
    )
    return canonical_bytes(sign_envelope(env, sender.city_id, sender.key))


def test_a_statement_from_a_non_twin_is_refused_and_nothing_is_stored(pair) -> None:
    _gent, padova, graz = pair
    raw = signed_statement(graz, padova, 900, statement_payload("at-graz"))
    before = in_envelopes(padova)
    # A stranger: Padova does not even know its key.
    expect(post(graz, padova, raw), 401, "unknown_key")
    # Graz asked to twin (Padova now holds its key document) but nobody accepted yet.
    assert graz.request_twin({"url": padova.base_url})["state"] == "requested"
    graz.deliver()
    expect(post(graz, padova, raw), 403, "not_twinned")
    assert received_rows(padova) == []
    assert in_envelopes(padova) == before + 1  # the twinning request only


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        # signed by the twin, but its CSO did not agree: a twin must not hold it
        ({"shared_with_twins": False}, 422, "invalid_payload"),
        # "official": true would pass a CSO's word off as the city's
        ({"official": True}, 422, "invalid_payload"),
        # about another city's civil society
        ({"city": "at-graz"}, 422, "invalid_payload"),
        # bounded sizes: method at most 2,000 characters
        ({"method": "x" * 2_001}, 422, "invalid_payload"),
        ({"extra": "field"}, 422, "invalid_payload"),
        ({"value": "NaN"}, 422, "invalid_payload"),
    ],
)
def test_a_twins_statement_breaking_the_rules_is_refused(
    pair, changes: dict[str, Any], status: int, code: str
) -> None:
    gent, padova, _graz = pair
    raw = signed_statement(gent, padova, 900, statement_payload("be-gent", **changes))
    before = in_envelopes(padova)
    expect(post(gent, padova, raw), status, code)
    assert received_rows(padova) == [] and in_envelopes(padova) == before


def test_a_statement_outside_the_twinning_themes_is_not_sent_nor_accepted(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova, themes=["Education"])
    cso = cso_partner(gent)
    figure = publish_figure(gent, cso, share_with_twins=True)  # a housing indicator
    assert figure["shared_with"] == []
    assert queued_types(gent).count(("it-padova", "hrc.cso_statement")) == 0
    raw = signed_statement(gent, padova, 900, statement_payload("be-gent"))
    expect(post(gent, padova, raw), 403, "out_of_scope")
    assert received_rows(padova) == []


def test_withdrawing_the_consent_makes_the_twin_stop_showing_it(pair) -> None:
    gent, padova, _graz = pair
    cso = cso_partner(gent)
    figure = publish_figure(gent, cso, share_with_twins=True)
    gent.deliver()
    assert ORGANISATION in table(peer_page(padova, "be-gent"), "twin-cso-figures")
    withdrawn = gent.api(
        "POST",
        f"/cso-figures/{figure['id']}/withdraw",
        {"scope": "sharing", "reason": "our board withdrew its consent"},
        token=cso.token,
    )
    assert withdrawn.status_code == 200, withdrawn.get_json()
    assert withdrawn.get_json()["status"] == "published"  # still public at home
    assert withdrawn.get_json()["shared_with"] == []
    assert queued_types(gent).count(("it-padova", "hrc.cso_withdrawal")) == 1
    gent.deliver()
    assert received_rows(padova) == [("be-gent", ORGANISATION, "140.5", True)]
    html = peer_page(padova, "be-gent")
    assert ORGANISATION not in html
    assert "1 statement was withdrawn by its organisation" in html
    [item] = padova.api("GET", "/peers/be-gent/cso-statements").get_json()["items"]
    assert item["withdrawal_scope"] == "sharing" and item["withdrawn_at"] is not None
    assert item["withdrawal_reason"] == "our board withdrew its consent"
    # The withdrawal is signed and public, like the statement.
    with session_scope(gent.runtime.sessions) as session:
        sha = session.scalar(
            select(OutEnvelope.sha256).where(OutEnvelope.type == "hrc.cso_withdrawal")
        )
    served = gent.app.test_client().get(f"/public/cso-statements/{sha}")
    assert served.status_code == 200
    payload = json.loads(served.data)["payload"]
    assert payload["statement_sha256"] == figure["statement_sha256"]
    assert payload["scope"] == "sharing"
    # Stopping twice is refused with its code, and writes nothing.
    again = gent.api(
        "POST", f"/cso-figures/{figure['id']}/withdraw", {"scope": "sharing"}, token=cso.token
    )
    assert again.status_code == 409 and again.get_json()["code"] == "cso_figure_not_shared"
    assert queued_types(gent).count(("it-padova", "hrc.cso_withdrawal")) == 1


def test_withdrawing_the_figure_removes_it_at_home_and_at_the_twin(pair) -> None:
    gent, padova, _graz = pair
    cso = cso_partner(gent)
    figure = publish_figure(gent, cso, share_with_twins=True)
    gent.deliver()
    other = cso_partner(gent)
    refused = gent.api(
        "POST", f"/cso-figures/{figure['id']}/withdraw", {"scope": "figure"}, token=other.token
    )
    assert refused.status_code == 403 and refused.get_json()["code"] == "cso_figure_not_yours"
    withdrawn = gent.api(
        "POST",
        f"/cso-figures/{figure['id']}/withdraw",
        {"scope": "figure", "reason": "a counting error"},
        token=cso.token,
    )
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    gent.deliver()
    assert received_rows(padova) == [("be-gent", ORGANISATION, "140.5", True)]
    public = gent.api("GET", "/cso-figures", token=None).get_json()["items"]
    assert public == []
    # The statement stays on record (it was public and signed); the figure is off every page.
    client = gent.app.test_client()
    assert client.get(f"/public/cso-statements/{figure['statement_sha256']}").status_code == 200
    assert ORGANISATION not in client.get("/open-data/cso-figures.csv").get_data(as_text=True)
