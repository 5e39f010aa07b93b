"""A full peer review across four in-process nodes: the secretariat chairs, Gent is reviewed,
Lyon and Padova review. Every move goes through the API; every node ends on the same chain."""

from __future__ import annotations

from typing import Any

import pytest

from node.db import session_scope
from node.services import users
from tests.federation.conftest import BACKENDS, SECRETARIAT, Node, record, twin
from tests.federation.test_secretariat import join

# Every test here runs on SQLite and, in the PostgreSQL lane, on PostgreSQL: each node
# has its own database, as separate cities would.
pytestmark = pytest.mark.parametrize("federation_backend", BACKENDS, indirect=True)

THEME = "Adequate housing"


def token_for(node: Node, role: str) -> str:
    with session_scope(node.runtime.sessions) as session:
        user = users.create_user(
            session,
            email=f"{role}-{len(node.extra)}@{node.city_id}.example",
            password="correct horse battery",
            role=role,
            now=node.clock(),
            node_role="secretariat" if node.city_id == SECRETARIAT else "city",
        )
        token = users.create_token(session, user, now=node.clock())
    node.extra[f"{role}-{len(node.extra)}"] = token
    return token


def act(
    node: Node,
    review_id: str,
    action: str,
    data: dict[str, Any] | None = None,
    token: str = "own",
    status: int = 200,
) -> dict[str, Any]:
    response = node.api(
        "POST", f"/reviews/{review_id}/actions", {"action": action, "data": data or {}}, token=token
    )
    assert response.status_code == status, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def sync(*nodes: Node, rounds: int = 3) -> None:
    for _ in range(rounds):  # bounded: actions go to the home, events come back
        for node in nodes:
            node.deliver()


def view(node: Node, review_id: str, token: str = "own") -> dict[str, Any]:
    response = node.api("GET", f"/reviews/{review_id}", token=token)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def publish(node: Node, period: str) -> str:
    items = node.api("POST", "/summaries", {"period": period}).get_json()["items"]
    node.deliver()
    return str(items[-1]["envelope_sha256"])


def submitted_review(gent: Node, home: Node, admin_token: str) -> str:
    """A review of Gent's 2025 housing figures, submitted by its admin and known to its home."""
    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    first = publish(gent, "2025")
    rid = str(
        gent.api(
            "POST", "/reviews", {"title": "T", "scope": {"themes": [THEME]}, "summaries": [first]}
        ).get_json()["id"]
    )
    act(gent, rid, "submit", token=admin_token)
    sync(home, gent)
    return rid


@pytest.fixture
def four(network) -> tuple[Node, Node, Node, Node]:  # type: ignore[no-untyped-def]
    secretariat, gent, lyon, padova = network(SECRETARIAT, "be-gent", "fr-lyon", "it-padova")
    join(secretariat, [gent, lyon, padova])
    return secretariat, gent, lyon, padova


def test_full_review_cycle(four: tuple[Node, Node, Node, Node]) -> None:
    secretariat, gent, lyon, padova = four
    nodes = (gent, lyon, padova, secretariat)
    gent_admin = token_for(gent, "admin")
    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    first = publish(gent, "2025")

    draft = gent.api(
        "POST",
        "/reviews",
        {
            "title": "Housing 2025",
            "scope": {"themes": [THEME]},
            "questions": ["Are evictions falling for migrant households?"],
            "summaries": [first],
        },
    )
    assert draft.status_code == 201, draft.get_json()
    rid = draft.get_json()["id"]
    assert draft.get_json()["state"] == "draft" and draft.get_json()["home"] == SECRETARIAT
    # The focal point (official) prepares; only the validating authority (admin) submits.
    refused = act(gent, rid, "submit", status=403)
    assert refused["code"] == "role_not_allowed"
    assert act(gent, rid, "submit", token=gent_admin)["pending"] is True
    sync(*nodes)
    assert view(gent, rid)["state"] == "requested"

    assert act(secretariat, rid, "open_round", status=409)["code"] == "undeclared_transition"
    act(secretariat, rid, "form_panel")
    act(secretariat, rid, "invite", {"city": "fr-lyon"})
    act(secretariat, rid, "invite", {"city": "it-padova"})
    # Opening a round needs two accepted reviewers: refused with the table's reason.
    assert act(secretariat, rid, "open_round", status=409)["code"] == "precondition_failed"
    sync(*nodes)
    assert view(lyon, rid)["state"] == "panel_forming"  # the late joiner got the history
    assert "accept" in view(lyon, rid)["available_actions"]
    act(lyon, rid, "accept")
    act(padova, rid, "accept")
    sync(*nodes)
    act(secretariat, rid, "open_round")
    sync(*nodes)

    anchor = {"summary_sha256": first, "indicator": "HRC-HOU-01", "period": "2025"}
    act(
        lyon,
        rid,
        "comment",
        {
            "id": "c0ffee01",
            "kind": "question",
            "anchor": anchor,
            "text": "How are evictions counted?",
            "readers": ["panel", "cur"],
        },
    )
    act(
        padova,
        rid,
        "comment",
        {
            "id": "c0ffee02",
            "kind": "concern",
            "anchor": anchor,
            "text": "Rate is high.",
            "readers": ["panel", "cur"],
        },
    )
    act(
        padova,
        rid,
        "comment",
        {
            "id": "c0ffee03",
            "kind": "observation",
            "anchor": {"section": "method"},
            "text": "For the chair only.",
            "readers": ["chair"],
        },
    )
    sync(*nodes)
    # Independent opinions: Lyon has not submitted, so it does not see Padova's comments yet.
    assert [c["id"] for c in view(lyon, rid)["comments"]] == ["c0ffee01"]
    assert {c["id"] for c in view(gent, rid)["comments"]} == {"c0ffee01", "c0ffee02"}
    act(lyon, rid, "submit_review", {"verdict": "concerns", "summary": "Needs a plan."})
    act(
        padova,
        rid,
        "submit_review",
        {"verdict": "endorsed", "summary": "Fine.", "endorsed_hash": first},
    )
    sync(*nodes)
    lyon_comments = {c["id"] for c in view(lyon, rid)["comments"]}
    assert lyon_comments == {"c0ffee01", "c0ffee02"}  # the chair's note stays with the chair
    assert {c["id"] for c in view(secretariat, rid)["comments"]} == {
        "c0ffee01",
        "c0ffee02",
        "c0ffee03",
    }

    content = {
        "text": "Adopt an eviction-prevention protocol.",
        "lead_verb": "adopt",
        "action_level": 5,
        "themes": [THEME],
        "indicators": ["HRC-HOU-01"],
        "affected_groups": ["migrants"],
        "sdg_targets": ["11.1"],
    }
    act(
        lyon,
        rid,
        "draft_recommendation",
        {"id": "4ec0001a", "content": content, "issuing_cities": ["fr-lyon", "it-padova"]},
    )
    act(
        padova,
        rid,
        "draft_recommendation",
        {
            "id": "4ec0002b",
            "content": {
                "text": "Publish eviction data by district.",
                "lead_verb": "publish",
                "action_level": 4,
                "themes": [THEME],
            },
            "issuing_cities": ["it-padova"],
        },
    )
    sync(*nodes)
    # The recommendations stay with the panel until the factual check.
    assert view(gent, rid)["recommendations"] == []
    rec = next(r for r in view(padova, rid)["recommendations"] if r["id"] == "4ec0001a")
    act(
        padova,
        rid,
        "cosign_recommendation",
        {"id": "4ec0001a", "content_sha256": "0" * 64},
        status=409,
    )
    act(
        padova,
        rid,
        "cosign_recommendation",
        {"id": "4ec0001a", "content_sha256": rec["content_sha256"]},
    )
    sync(*nodes)

    act(secretariat, rid, "close_round")
    act(secretariat, rid, "request_revision")
    sync(*nodes)
    # Gent corrects its figure: a new signed revision, then round 2 on it.
    record(gent, "2025", {"HRC-HOU-01": "11.0"})
    second = publish(gent, "2025")
    assert second != first
    act(gent, rid, "submit_revision", {"summary_hashes": [first]}, token=gent_admin, status=409)
    act(gent, rid, "submit_revision", {"summary_hashes": [second]}, token=gent_admin)
    sync(*nodes)
    padova_view = view(padova, rid)
    assert padova_view["state"] == "in_review" and padova_view["round"] == 2
    endorsement = next(a for a in padova_view["assignments"] if a["city"] == "it-padova")
    assert endorsement["verdict"] is None and endorsement["endorsed_hash"] is None  # lapsed
    outdated = {c["id"]: c["outdated"] for c in padova_view["comments"]}
    # The anchored value changed; the note on a report section cannot go outdated.
    assert outdated == {"c0ffee01": True, "c0ffee02": True, "c0ffee03": False}
    act(lyon, rid, "submit_review", {"verdict": "comment_only", "summary": "Better."})
    act(
        padova,
        rid,
        "submit_review",
        {"verdict": "endorsed", "summary": "Good.", "endorsed_hash": second},
    )
    sync(*nodes)
    for step in ("close_round", "start_factual_check", "issue"):
        act(secretariat, rid, step)
    sync(*nodes)
    gent_view = view(gent, rid, token=gent_admin)
    assert gent_view["state"] == "awaiting_response"
    assert {r["id"] for r in gent_view["recommendations"]} == {"4ec0001a", "4ec0002b"}
    assert [d["kind"] for d in gent_view["deadlines"]] == ["response"]

    # Every recommendation needs a position, and "noted" an explanation.
    act(
        gent,
        rid,
        "respond",
        {"positions": [{"recommendation_id": "4ec0001a", "position": "supported"}]},
        token=gent_admin,
        status=409,
    )
    act(
        gent,
        rid,
        "respond",
        {
            "positions": [
                {"recommendation_id": "4ec0001a", "position": "supported"},
                {"recommendation_id": "4ec0002b", "position": "noted"},
            ]
        },
        token=gent_admin,
        status=422,
    )
    act(
        gent,
        rid,
        "respond",
        {
            "positions": [
                {"recommendation_id": "4ec0001a", "position": "supported"},
                {
                    "recommendation_id": "4ec0002b",
                    "position": "noted",
                    "explanation": "District data is below the small-cell threshold.",
                },
            ]
        },
        token=gent_admin,
    )
    sync(*nodes)
    act(secretariat, rid, "adopt")
    sync(*nodes)
    act(
        gent,
        rid,
        "report_follow_up",
        {
            "entries": [
                {
                    "recommendation_id": "4ec0001a",
                    "status": "in_progress",
                    "note": "Protocol drafted with the housing department.",
                    "evidence": [second],
                }
            ]
        },
        token=gent_admin,
    )
    sync(*nodes)
    act(
        lyon,
        rid,
        "assess",
        {
            "entries": [
                {"recommendation_id": "4ec0001a", "status": "in_progress", "note": "Agreed."}
            ]
        },
    )
    sync(*nodes)
    act(secretariat, rid, "close")
    sync(*nodes)

    heads = {n.city_id: view(n, rid)["head_hash"] for n in nodes}
    assert len(set(heads.values())) == 1, heads
    logs = {n.city_id: n.api("GET", f"/reviews/{rid}/events").get_json() for n in nodes}
    assert {log["head_index"] for log in logs.values()} == {logs[SECRETARIAT]["head_index"]}
    assert view(gent, rid)["state"] == "closed"

    # The adopted outcome is public, on every node that holds it, filterable.
    public = gent.api("GET", "/recommendations?theme=" + THEME, token=None).get_json()["items"]
    assert {r["id"]: r["position"] for r in public} == {
        "4ec0001a": "supported",
        "4ec0002b": "noted",
    }
    noted = lyon.api("GET", "/recommendations?position=noted", token=None).get_json()["items"]
    assert noted[0]["explanation"].startswith("District data")
    progressing = secretariat.api("GET", "/recommendations?status=in_progress", token=None)
    [item] = progressing.get_json()["items"]
    assert [f["kind"] for f in item["follow_up"]] == ["report", "assessment"]
    assert item["cosigned_by"] == ["fr-lyon", "it-padova"]


def signed_review_message(
    node: Node,
    type_: str,
    rid: str,
    payload: dict[str, Any],
    seq: int,
    to: str,
    *,
    stream: str | None = None,
    schema: str | None = None,
) -> bytes:
    """A review message signed by ``node``: in its review's stream, naming ``type_/1``, unless
    a test says otherwise."""
    from federation.canonical import canonical_bytes
    from federation.envelope import make_envelope, sign_envelope

    envelope = make_envelope(
        type_,
        schema or type_ + "/1",
        node.city_id,
        stream or f"review/{rid}",
        seq,
        int(node.clock().timestamp() * 1000),
        node.key.key_id,
        [to],
        payload,
    )
    return canonical_bytes(sign_envelope(envelope, node.city_id, node.key))


def test_forged_and_out_of_turn_review_messages_are_refused(
    four: tuple[Node, Node, Node, Node],
) -> None:
    from tests.federation.test_inbox_refusals import post

    secretariat, gent, lyon, _padova = four
    twin(gent, lyon)  # so that Lyon may post to Gent at all
    rid = submitted_review(gent, secretariat, token_for(gent, "admin"))
    head = view(gent, rid)["head_hash"]
    base = {"review_id": rid, "home": SECRETARIAT, "cur": "be-gent"}

    def refused(sender: Node, to: Node, type_: str, payload: dict[str, Any], seq: int) -> str:
        response = post(
            sender, to, signed_review_message(sender, type_, rid, payload, seq, to.city_id)
        )
        assert response.status_code in (403, 409, 422), response.get_json()
        return str(response.get_json()["code"])

    # Malformed: a clear 422, nothing stored.
    no_role = {**base, "action": "withdraw", "data": {}}
    assert refused(gent, secretariat, "hrc.review.action", no_role, 899) == "invalid_payload"
    bad_data = {**base, "action": "respond", "role": "validating_authority", "data": {"x": 1}}
    assert refused(gent, secretariat, "hrc.review.action", bad_data, 899) == "validation_failed"
    # A city not on the panel cannot speak for the reviewed city, nor the CuR for the chair.
    claim = {**base, "action": "withdraw", "role": "validating_authority", "data": {}}
    assert refused(lyon, secretariat, "hrc.review.action", claim, 900) == "role_not_allowed"
    chair_claim = {**base, "action": "form_panel", "role": "chair", "data": {}}
    assert refused(gent, secretariat, "hrc.review.action", chair_claim, 900) == "role_not_allowed"
    # Only the home node relays events.
    chair_body = signed_review_message(
        secretariat, "hrc.review.action", rid, chair_claim, 950, SECRETARIAT
    )
    from federation.canonical import loads_strict
    from federation.envelope import envelope_sha256

    body = loads_strict(chair_body)
    header = {
        "review_id": rid,
        "index": 1,
        "prev": head,
        "action": "form_panel",
        "actor": {"city": SECRETARIAT, "role": "chair"},
        "body_sha256": envelope_sha256(body),
        "readers": ["network"],
        "ts": 1,
    }
    event = {**base, "event": header, "body": body}
    assert refused(lyon, gent, "hrc.review.event", event, 901) == "not_home"
    # The home itself cannot swap the body, fork the chain or skip events.
    swapped = {**event, "event": {**header, "body_sha256": "0" * 64}}
    assert refused(secretariat, gent, "hrc.review.event", swapped, 960) == "hash_mismatch"
    forked = {**event, "event": {**header, "prev": "f" * 64}}
    assert refused(secretariat, gent, "hrc.review.event", forked, 961) == "event_fork"
    gap = {**event, "event": {**header, "index": 5}}
    assert refused(secretariat, gent, "hrc.review.event", gap, 962) == "event_gap"
    # A body signed by someone else than the named actor is refused.
    lyon_body = loads_strict(
        signed_review_message(lyon, "hrc.review.action", rid, chair_claim, 970, SECRETARIAT)
    )
    impostor = {
        **event,
        "event": {**header, "body_sha256": envelope_sha256(lyon_body)},
        "body": lyon_body,
    }
    assert refused(secretariat, gent, "hrc.review.event", impostor, 963) == "wrong_author"
    after = view(gent, rid)
    assert (after["state"], after["head_hash"]) == ("requested", head)


def test_deadlines_follow_the_review_extension_withdrawal_and_cancel(
    four: tuple[Node, Node, Node, Node],
) -> None:
    from datetime import datetime, timedelta

    secretariat, gent, lyon, padova = four
    gent_admin = token_for(gent, "admin")
    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    first = publish(gent, "2025")

    def new_review() -> str:
        rid = gent.api(
            "POST",
            "/reviews",
            {"title": "T", "scope": {"indicators": ["HRC-HOU-01"]}, "summaries": [first]},
        ).get_json()["id"]
        act(gent, rid, "submit", token=gent_admin)
        sync(secretariat, gent)
        act(secretariat, rid, "form_panel")
        act(secretariat, rid, "invite", {"city": "fr-lyon"})
        sync(secretariat, gent, lyon)
        return rid

    rid = new_review()
    [deadline] = view(lyon, rid)["deadlines"]
    assert deadline["kind"] == "invitation_answer"
    invited = datetime.fromisoformat(deadline["due_at"])
    assert invited - gent.clock() == timedelta(days=14)
    # The chair extends it: the extension travels, Lyon's own deadline moves.
    later = (invited + timedelta(days=7)).isoformat()
    act(
        secretariat,
        rid,
        "extend_deadline",
        {"kind": "invitation_answer", "city": "fr-lyon", "due": later},
    )
    sync(secretariat, lyon)
    [moved] = view(lyon, rid)["deadlines"]
    assert datetime.fromisoformat(moved["due_at"]) == invited + timedelta(days=7)
    # Lyon's own sweep reminds Lyon's official on the (moved) due date; Gent's reminds nobody.
    from peer_review.reminders import run_sweep

    lyon.clock.current = invited + timedelta(days=7, minutes=1)
    run_sweep(lyon.runtime.sessions, lyon.runtime.config, lyon.clock())
    run_sweep(gent.runtime.sessions, gent.runtime.config, lyon.clock())
    notes = lyon.api("GET", "/notifications").get_json()["items"]
    assert [n["link"] for n in notes] == [f"/reviews/{rid}"]
    assert gent.api("GET", "/notifications").get_json()["items"] == []
    run_sweep(lyon.runtime.sessions, lyon.runtime.config, lyon.clock())
    assert len(lyon.api("GET", "/notifications").get_json()["items"]) == 1  # never twice
    # Withdrawal by the reviewed city closes everything on every node.
    # A focal point cannot commit the city.
    assert act(gent, rid, "withdraw", status=403)["code"] == "role_not_allowed"
    act(gent, rid, "withdraw", token=gent_admin)
    sync(gent, secretariat, lyon)
    assert view(lyon, rid)["state"] == "withdrawn" and view(lyon, rid)["deadlines"] == []
    assert act(secretariat, rid, "invite", {"city": "it-padova"}, status=409)["code"] == (
        "undeclared_transition"
    )

    # The secretariat cancels another review; the reviewed city cannot.
    other = new_review()
    assert act(gent, other, "cancel", token=gent_admin, status=403)["code"] == "role_not_allowed"
    act(secretariat, other, "cancel")
    sync(secretariat, gent, lyon)
    assert view(gent, other, token=gent_admin)["state"] == "cancelled"
    assert view(lyon, other)["deadlines"] == []
    assert padova.api("GET", f"/reviews/{other}").status_code == 404  # never a participant


def test_a_draft_is_withdrawn_locally(four: tuple[Node, Node, Node, Node]) -> None:
    secretariat, gent, _lyon, _padova = four
    gent_admin = token_for(gent, "admin")
    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    first = publish(gent, "2025")
    rid = gent.api(
        "POST", "/reviews", {"title": "T", "scope": {"themes": [THEME]}, "summaries": [first]}
    ).get_json()["id"]
    withdrawn = act(gent, rid, "withdraw", token=gent_admin)
    assert (withdrawn["state"], withdrawn["pending"]) == ("withdrawn", False)
    sync(gent, secretariat)
    assert secretariat.api("GET", f"/reviews/{rid}").status_code == 404  # nothing crossed
    assert act(gent, rid, "submit", token=gent_admin, status=409)["code"] == (
        "undeclared_transition"
    )
