"""An ended review (withdrawn, cancelled, closed) freezes its panel: no invitation can be
answered and the chair cannot change an assignment any more."""

from __future__ import annotations

from tests.federation.conftest import SECRETARIAT, record
from tests.federation.test_peer_review import THEME, act, publish, sync, token_for, view
from tests.federation.test_secretariat import join


def test_a_withdrawn_review_freezes_its_panel(network) -> None:  # type: ignore[no-untyped-def]
    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    join(secretariat, [gent, lyon])
    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    draft = {"title": "Housing", "scope": {"themes": [THEME]}, "summaries": [publish(gent, "2025")]}
    rid = gent.api("POST", "/reviews", draft).get_json()["id"]
    admin = token_for(gent, "admin")
    act(gent, rid, "submit", token=admin)
    sync(gent, secretariat)
    act(secretariat, rid, "form_panel")
    act(secretariat, rid, "invite", {"city": "fr-lyon"})
    sync(gent, lyon, secretariat)
    assert {"accept", "decline"} <= set(view(lyon, rid)["available_actions"])

    act(gent, rid, "withdraw", token=admin)
    sync(gent, lyon, secretariat)
    assert view(lyon, rid)["state"] == "withdrawn"
    assert view(lyon, rid)["available_actions"] == []
    assert view(secretariat, rid)["available_actions"] == []
    assert act(lyon, rid, "accept", status=409)["code"] == "review_ended"
    refused = act(secretariat, rid, "cancel_assignment", {"city": "fr-lyon"}, status=409)
    assert refused["code"] == "review_ended"
    assert [a["state"] for a in view(secretariat, rid)["assignments"]] == ["invited"]
