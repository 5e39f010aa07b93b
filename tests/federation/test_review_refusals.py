"""Refused review moves, across four in-process nodes: each answers with its code and changes
nothing — no event on the home's chain, no envelope signed or queued, the same state everywhere.

The preconditions are taken at their edges end to end: a round cannot open one accepted
reviewer short (``min_reviewers`` − 1) and opens at exactly the minimum; it cannot close while
one accepted reviewer is still working, and closes once the last one has submitted.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from node.db import session_scope
from node.network.models import OutEnvelope
from tests.federation.conftest import SECRETARIAT, Node, record
from tests.federation.test_peer_review import THEME, act, publish, sync, token_for, view
from tests.federation.test_secretariat import join


def signed_count(node: Node) -> int:
    with session_scope(node.runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(OutEnvelope)) or 0


def snapshot(node: Node, rid: str, token: str = "own") -> tuple[Any, ...]:
    seen = view(node, rid, token)
    assignments = tuple((a["city"], a["state"]) for a in seen["assignments"])
    return seen["state"], seen["head_index"], seen["head_hash"], assignments, signed_count(node)


def refused(node: Node, rid: str, action: str, status: int, code: str, **kw: Any) -> dict:
    body = act(node, rid, action, status=status, **kw)
    assert body["code"] == code, body
    return body


@pytest.fixture
def panel_forming(network) -> tuple[Node, Node, Node, Node, str, str]:  # type: ignore[no-untyped-def]
    """Gent under review, the secretariat chairing, Lyon accepted and Padova invited."""
    secretariat, gent, lyon, padova = network(SECRETARIAT, "be-gent", "fr-lyon", "it-padova")
    join(secretariat, [gent, lyon, padova])
    gent_admin = token_for(gent, "admin")
    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    first = publish(gent, "2025")
    draft = gent.api(
        "POST", "/reviews", {"title": "T", "scope": {"themes": [THEME]}, "summaries": [first]}
    )
    rid = draft.get_json()["id"]
    act(gent, rid, "submit", token=gent_admin)
    sync(gent, secretariat)
    act(secretariat, rid, "form_panel")
    act(secretariat, rid, "invite", {"city": "fr-lyon"})
    act(secretariat, rid, "invite", {"city": "it-padova"})
    sync(secretariat, gent, lyon, padova)
    act(lyon, rid, "accept")
    sync(lyon, secretariat, gent, padova)
    assert view(secretariat, rid)["min_reviewers"] == 2
    return secretariat, gent, lyon, padova, rid, gent_admin


def test_a_focal_point_cannot_commit_the_city(panel_forming) -> None:  # type: ignore[no-untyped-def]
    secretariat, gent, lyon, padova, rid, gent_admin = panel_forming
    before = {n.city_id: snapshot(n, rid) for n in (secretariat, gent, lyon)}
    refused(gent, rid, "withdraw", 403, "role_not_allowed")  # the official: a focal point
    sync(gent, secretariat, lyon, padova)
    assert {n.city_id: snapshot(n, rid) for n in (secretariat, gent, lyon)} == before


def test_rounds_open_and_close_at_the_edges(panel_forming) -> None:  # type: ignore[no-untyped-def]
    secretariat, gent, lyon, padova, rid, _ = panel_forming
    # One accepted reviewer of the two needed: refused, and the home's chain does not move.
    home_before = snapshot(secretariat, rid)
    body = refused(secretariat, rid, "open_round", 409, "precondition_failed")
    assert body["precondition"] == "enough_reviewers"
    assert snapshot(secretariat, rid) == home_before
    # Exactly the minimum: the round opens.
    act(padova, rid, "accept")
    sync(padova, secretariat, gent, lyon)
    act(secretariat, rid, "open_round")
    sync(secretariat, gent, lyon, padova)
    assert view(gent, rid)["state"] == view(lyon, rid)["state"] == "in_review"

    act(lyon, rid, "submit_review", {"verdict": "concerns", "summary": "Needs a plan."})
    sync(lyon, secretariat, gent, padova)
    # Padova accepted and is still working: the round cannot close.
    home_before = snapshot(secretariat, rid)
    body = refused(secretariat, rid, "close_round", 409, "precondition_failed")
    assert body["precondition"] == "reviews_in"
    assert snapshot(secretariat, rid) == home_before
    # A reviewer cannot close it either, whatever the facts.
    refused(lyon, rid, "close_round", 403, "role_not_allowed")
    act(padova, rid, "submit_review", {"verdict": "comment_only", "summary": "Fine."})
    sync(padova, secretariat, gent, lyon)
    act(secretariat, rid, "close_round")
    sync(secretariat, gent, lyon, padova)
    assert {view(n, rid)["state"] for n in (secretariat, gent, lyon, padova)} == {"consolidating"}
