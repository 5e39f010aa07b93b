"""Mentoring between two twinned cities, in process: the whole life of a relationship from
proposal to co-signed closure, the secretariat's metadata, and every refusal of the inbox
(not twinned, unknown relationship, sender not a party, undeclared transition, forged
co-signature / hash mismatch), and concurrent changes settled the same way on both nodes."""

from __future__ import annotations

import json
from typing import Any

from federation.canonical import canonical_bytes
from federation.envelope import make_envelope, sign_envelope
from node.db import session_scope
from node.network.models import InEnvelope, OutboxItem
from peer_review.mentoring.acting import content_sha256
from peer_review.mentoring.models import Relationship
from schemas.mentoring import DOCUMENT_TYPE as DOCUMENT
from schemas.mentoring import PROPOSED_TYPE as PROPOSED
from schemas.mentoring import SIGNATURE_TYPE as SIGNATURE
from schemas.mentoring import TRANSITION_TYPE as TRANSITION
from tests.federation.conftest import SECRETARIAT, Node, load_key, record, twin
from tests.federation.test_inbox_refusals import post, stored
from tests.federation.test_secretariat import join
from tests.support import Caller
from tests.web.test_pages import login

HOUSING = "HRC-HOU-01"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def relationship(node: Node, rel_id: str) -> dict[str, Any]:
    return ok(node.api("GET", f"/mentoring/{rel_id}"))


def act(node: Node, rel_id: str, action: str) -> dict[str, Any]:
    return ok(node.api("POST", f"/mentoring/{rel_id}/transitions", {"action": action}))


def padova_summary(gent: Node, padova: Node) -> str:
    """Padova publishes a signed 2025 summary (with a target) that Gent receives."""
    record(padova, "2025", {HOUSING: "12.5"})
    ok(
        padova.api(
            "POST",
            "/targets",
            {
                "indicator": HOUSING,
                "baseline": {"period": "2023", "value": "15"},
                "target": {"period": "2030", "value": "5"},
            },
        )
    )
    items = ok(padova.api("POST", "/summaries", {"period": "2025"}), 201)["items"]
    [published] = [e for e in items if e["audience"] == [gent.city_id]]
    padova.deliver()
    [received] = ok(gent.api("GET", "/peers/it-padova/summaries"))["items"]
    assert received["envelope_sha256"] == published["envelope_sha256"]
    return str(published["envelope_sha256"])


def agreement_body(summary_sha256: str) -> dict[str, Any]:
    return {
        "terms": "Monthly calls; Gent shares its eviction-prevention protocol.",
        "starts_on": "2026-03-01",
        "ends_on": "2026-12-31",
        "goals": [
            {
                "text": "Halve evictions without alternative accommodation by 2030.",
                "recommendations": ["REC-2025-07"],
                "measure": {"indicator": HOUSING, "summary_sha256": summary_sha256},
                "due_on": "2026-12-31",
            }
        ],
    }


def both_sign(gent: Node, padova: Node, rel_id: str, path: str, document: dict[str, Any]) -> None:
    for signer in (padova, gent):
        signed = ok(
            signer.api(
                "POST",
                f"/mentoring/{rel_id}/{path}/{document['version']}/sign",
                {"sha256": document["sha256"]},
            ),
            201,
        )
        assert signed["verified"] and signed["sha256"] == document["sha256"]
        signer.deliver()


def started(network: Any) -> tuple[Node, Node, str, str]:
    """Gent (mentor) and Padova (mentee), twinned; Gent proposes, Padova accepts."""
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    summary = padova_summary(gent, padova)
    proposed = ok(
        gent.api(
            "POST",
            "/mentoring",
            {
                "partner": "it-padova",
                "our_side": "mentor",
                "title": "Eviction prevention",
                "purpose": "Share what worked in Gent.",
            },
        ),
        201,
    )
    rel_id = proposed["id"]
    assert proposed["state"] == "proposed" and proposed["deadlines"] == []
    assert gent.deliver().delivered == 1, gent.api("GET", "/federation/status").get_json()
    seen = relationship(padova, rel_id)
    assert (seen["state"], seen["our_side"], seen["proposer"]) == ("proposed", "mentee", "be-gent")
    assert [d["kind"] for d in seen["deadlines"]] == ["mentoring_answer"]
    assert seen["answer_due_at"].startswith("2026-03-22")  # 21 days after 2026-03-01
    act(padova, rel_id, "accept")
    padova.deliver()
    return gent, padova, rel_id, summary


def test_a_relationship_from_proposal_to_cosigned_closure(network) -> None:
    gent, padova, rel_id, summary = started(network)
    for node in (gent, padova):
        view = relationship(node, rel_id)
        assert view["state"] == "scoping"
        assert [d["kind"] for d in view["deadlines"]] == ["mentoring_agreement"]

    # Activation needs a co-signed agreement: refused before.
    refused = gent.api("POST", f"/mentoring/{rel_id}/transitions", {"action": "activate"})
    assert refused.status_code == 409 and refused.get_json()["code"] == "precondition_failed"

    agreement = ok(gent.api("POST", f"/mentoring/{rel_id}/agreement", agreement_body(summary)), 201)
    assert agreement["version"] == 1 and agreement["sha256"] == content_sha256(agreement["content"])
    [goal] = agreement["content"]["goals"]
    assert goal["measure"] == {
        "indicator": HOUSING,
        "summary_sha256": summary,
        "period": "2025",
        "baseline": "12.5",
        "target": {"period": "2030", "value": "5"},
        "target_source": "summary",
    }
    gent.deliver()
    both_sign(gent, padova, rel_id, "agreement", agreement)

    # Any edit is a new version that needs both signatures again.
    edited = agreement_body(summary)
    edited["goals"][0]["goal_id"] = goal["goal_id"]
    edited["terms"] += " Two site visits."
    second = ok(gent.api("POST", f"/mentoring/{rel_id}/agreement", edited), 201)
    assert second["version"] == 2 and not second["cosigned"]
    gent.deliver()
    refused = padova.api("POST", f"/mentoring/{rel_id}/transitions", {"action": "activate"})
    assert refused.status_code == 409 and refused.get_json()["precondition"] == "agreement_cosigned"
    both_sign(gent, padova, rel_id, "agreement", second)
    act(padova, rel_id, "activate")
    padova.deliver()

    # Sessions: planned → held (notes due in 7 days) → documented.
    planned = ok(
        padova.api(
            "POST",
            f"/mentoring/{rel_id}/sessions",
            {"title": "Kick-off", "planned_for": "2026-03-10T09:00:00Z"},
        ),
        201,
    )
    padova.deliver()
    held = ok(gent.api("POST", f"/mentoring/{rel_id}/sessions/{planned['id']}/hold", {}))
    assert held["state"] == "held" and held["notes_due_at"].startswith("2026-03-08")
    gent.deliver()
    assert "session_notes" in [d["kind"] for d in relationship(padova, rel_id)["deadlines"]]
    ok(
        padova.api(
            "POST",
            f"/mentoring/{rel_id}/sessions/{planned['id']}/document",
            {"notes": "Agreed on the data to share."},
        )
    )
    padova.deliver()

    # Notes: progress and mid-point are shared, private ones are not.
    ok(
        gent.api("POST", f"/mentoring/{rel_id}/notes", {"kind": "progress", "text": "On track."}),
        201,
    )
    ok(
        gent.api("POST", f"/mentoring/{rel_id}/notes", {"kind": "midpoint", "text": "Half way."}),
        201,
    )
    private = ok(
        gent.api("POST", f"/mentoring/{rel_id}/notes", {"kind": "private", "text": "Call Ana."}),
        201,
    )
    assert private["shared"] is False
    # Versioned action plan: every version is kept.
    for status in ("open", "done"):
        ok(
            padova.api(
                "POST",
                f"/mentoring/{rel_id}/action-plan",
                {
                    "items": [
                        {"text": "Map evictions by district", "city": "it-padova", "status": status}
                    ]
                },
            ),
            201,
        )
    gent.deliver()
    padova.deliver()

    act(gent, rel_id, "pause")
    gent.deliver()
    act(padova, rel_id, "resume")
    padova.deliver()
    act(gent, rel_id, "start_closing")
    gent.deliver()
    report = ok(
        padova.api(
            "POST",
            f"/mentoring/{rel_id}/closure-report",
            {
                "summary": "Evictions without rehousing fell by a third.",
                "goals": [{"goal_id": goal["goal_id"], "status": "partly_achieved"}],
            },
        ),
        201,
    )
    padova.deliver()
    refused = gent.api("POST", f"/mentoring/{rel_id}/transitions", {"action": "complete"})
    assert refused.status_code == 409
    both_sign(gent, padova, rel_id, "closure-report", report)
    act(gent, rel_id, "complete")
    gent.deliver()

    views = {node.city_id: relationship(node, rel_id) for node in (gent, padova)}
    for view in views.values():
        assert (view["state"], view["outcome"]) == ("closed", "completed")
        assert view["deadlines"] == []
        assert [s["state"] for s in view["sessions"]] == ["documented"]
        assert [v["version"] for v in view["action_plan"]] == [1, 2]
        assert view["midpoint_done"] is True
        assert all(s["verified"] for d in view["agreement"] for s in d["signatures"])

    def signed(view: dict[str, Any], kind: str) -> list[tuple[int, str, list[str]]]:
        return [
            (d["version"], d["sha256"], sorted(s["city_id"] for s in d["signatures"]))
            for d in view[kind]
        ]

    for kind in ("agreement", "closure_report"):
        assert signed(views["be-gent"], kind) == signed(views["it-padova"], kind)
    assert signed(views["be-gent"], "agreement") == [
        (1, agreement["sha256"], ["be-gent", "it-padova"]),
        (2, second["sha256"], ["be-gent", "it-padova"]),
    ]
    assert views["be-gent"]["state_version"] == views["it-padova"]["state_version"] == 7
    assert [e["to_state"] for e in views["be-gent"]["events"]] == [
        e["to_state"] for e in views["it-padova"]["events"]
    ]
    # The private note stayed in Gent.
    assert [n["kind"] for n in views["be-gent"]["notes"]] == ["progress", "midpoint", "private"]
    assert [n["kind"] for n in views["it-padova"]["notes"]] == ["progress", "midpoint"]
    with session_scope(padova.runtime.sessions) as session:
        texts = [row.raw for row in session.query(InEnvelope)]
    assert not any("Call Ana." in raw for raw in texts)


# --- the secretariat sees metadata only --------------------------------------------------------


def test_the_secretariat_holds_metadata_only(network) -> None:
    secretariat, gent, padova = network(SECRETARIAT, "be-gent", "it-padova")
    join(secretariat, [gent, padova])
    twin(gent, padova)
    summary = padova_summary(gent, padova)
    secretariat.deliver()
    rel_id = ok(
        padova.api(
            "POST",
            "/mentoring",
            {"partner": "be-gent", "our_side": "mentee", "title": "Housing data"},
        ),
        201,
    )["id"]
    padova.deliver()
    act(gent, rel_id, "accept")
    gent.deliver()
    agreement = ok(gent.api("POST", f"/mentoring/{rel_id}/agreement", agreement_body(summary)), 201)
    gent.deliver()
    both_sign(gent, padova, rel_id, "agreement", agreement)
    act(gent, rel_id, "activate")
    ok(
        gent.api(
            "POST",
            f"/mentoring/{rel_id}/notes",
            {"kind": "progress", "text": "Confidential progress"},
        ),
        201,
    )
    gent.deliver()
    act(padova, rel_id, "end_early")
    padova.deliver()
    gent.deliver()  # Gent's own report of the change it received

    rows = ok(secretariat.api("GET", "/mentoring/metadata"))["items"]
    assert {(r["reporter"], r["state"], r["outcome"], r["state_version"]) for r in rows} == {
        ("be-gent", "closed", "ended_early", 4),
        ("it-padova", "closed", "ended_early", 4),
    }
    assert all((r["mentor"], r["mentee"]) == ("be-gent", "it-padova") for r in rows)
    # The secretariat holds no relationship, and nothing but metadata reached it.
    expect(secretariat.api("GET", "/mentoring"), 403, "role_not_allowed")
    expect(secretariat.api("GET", f"/mentoring/{rel_id}"), 403, "role_not_allowed")
    with session_scope(secretariat.runtime.sessions) as session:
        raws = [(e.type, e.raw) for e in session.query(InEnvelope) if "mentoring" in e.type]
    assert {type_ for type_, _raw in raws} == {"hrc.mentoring.metadata"}
    assert len(raws) == 8  # four state changes, reported by each city
    assert not any(word in raw for _t, raw in raws for word in ("Confidential", "Halve", "terms"))
    for _type, raw in raws:
        assert set(json.loads(raw)["payload"]) == {
            "relationship_id",
            "mentor",
            "mentee",
            "state",
            "outcome",
            "state_version",
            "proposed_at",
            "changed_at",
        }
    # A city's node has no metadata list.
    assert gent.api("GET", "/mentoring/metadata").status_code == 404
    # The secretariat's page lists the same metadata, and nothing else.
    staff = Caller(f"official@{SECRETARIAT}.example", "secretariat", "", "correct horse battery")
    browser = secretariat.app.test_client()
    login(browser, staff)
    page = browser.get("/mentoring").get_data(as_text=True)
    # The outcome each city reported, in words (the English catalogue reads "ended_early").
    assert rel_id[:12] in page and page.count("(ended early)") == 2
    assert "Confidential" not in page and "Halve" not in page

    # Metadata carrying anything more is refused, and so is a report about others' relationship.
    base = json.loads(raws[0][1])["payload"]
    leaky = craft(gent, secretariat, "hrc.mentoring.metadata", {**base, "notes": "x"}, 10**9)
    expect(post(gent, secretariat, leaky), 422, "invalid_payload")
    other = {**base, "mentor": "fr-lyon", "mentee": "it-padova"}
    stranger = craft(gent, secretariat, "hrc.mentoring.metadata", other, 10**9 + 1)
    expect(post(gent, secretariat, stranger), 403, "not_a_party")
    # The secretariat takes part in no relationship.
    enrol = {
        "relationship_id": "ab" * 16,
        "action": "propose",
        "actor_role": "mentor_lead",
        "mentor": "be-gent",
        "mentee": SECRETARIAT,
        "title": "Mentor the secretariat",
    }
    enrolling = craft(gent, secretariat, PROPOSED, enrol, 10**9 + 2)
    expect(post(gent, secretariat, enrolling), 403, "not_a_party")
    # A city does not take metadata.
    wrong = craft(padova, gent, "hrc.mentoring.metadata", base, 10**9)
    expect(post(padova, gent, wrong), 422, "not_a_secretariat")


# --- refusals ------------------------------------------------------------------------------------


def craft(sender: Node, to: Node, type_: str, payload: dict[str, Any], seq: int) -> bytes:
    """A mentoring envelope signed by ``sender``'s real key, as a misbehaving node would."""
    env = make_envelope(
        type_,
        f"{type_}/1",
        sender.city_id,
        "mentoring",
        seq,
        int(sender.clock().timestamp() * 1000),
        sender.key.key_id,
        [to.city_id],
        payload,
    )
    return canonical_bytes(sign_envelope(env, sender.city_id, sender.key))


def expect(response: Any, status: int, code: str) -> dict[str, Any]:
    body = response.get_json()
    assert (response.status_code, body["code"]) == (status, code), body
    assert response.mimetype == "application/problem+json"
    return dict(body)


def state_ref(node: Node, rel_id: str) -> str:
    with session_scope(node.runtime.sessions) as session:
        rel = session.get(Relationship, rel_id)
        assert rel is not None
        return rel.state_ref


def transition_payload(rel_id: str, action: str, prev_ref: str, **extra: Any) -> dict[str, Any]:
    return {
        "relationship_id": rel_id,
        "action": action,
        "actor_role": "mentor_lead",
        "prev_ref": prev_ref,
        "from_state": "scoping",
        "state": "closed",
        "outcome": "completed",
        "state_version": 3,
        **extra,
    }


def test_inbox_refusals_store_nothing(network) -> None:
    gent, padova, rel_id, summary = started(network)
    [graz] = network("at-graz")
    ref = state_ref(padova, rel_id)
    before = stored(padova)

    # Not twinned: Graz asked Padova to twin, Padova has not answered yet.
    assert graz.request_twin({"url": padova.base_url})["state"] == "requested"
    graz.deliver()
    proposal = {
        "relationship_id": "ab" * 16,
        "action": "propose",
        "actor_role": "mentor_lead",
        "mentor": "at-graz",
        "mentee": "it-padova",
        "title": "Unasked",
    }
    expect(post(graz, padova, craft(graz, padova, PROPOSED, proposal, 10**9)), 403, "not_twinned")
    # ... and locally: nobody proposes to a city that is not an active twin.
    refused = gent.api(
        "POST", "/mentoring", {"partner": "at-graz", "our_side": "mentor", "title": "x"}
    )
    expect(refused, 409, "not_twinned")

    # Unknown relationship.
    unknown = transition_payload("cd" * 16, "pause", ref)
    expect(
        post(gent, padova, craft(gent, padova, TRANSITION, unknown, 10**9)),
        422,
        "unknown_relationship",
    )

    # Sender not a party: Graz, now a twin of Padova, tries to change Gent and Padova's relationship
    # and to enrol Padova in a relationship with Gent.
    ok(padova.api("POST", "/peers/at-graz/accept"))
    padova.deliver()
    before = stored(padova)
    meddling = transition_payload(rel_id, "end_early", ref, state="closed", outcome="ended_early")
    expect(post(graz, padova, craft(graz, padova, TRANSITION, meddling, 10**9)), 403, "not_a_party")
    third = {**proposal, "mentor": "be-gent", "relationship_id": "ef" * 16}
    expect(post(graz, padova, craft(graz, padova, PROPOSED, third, 10**9 + 1)), 403, "not_a_party")

    # Undeclared transition: "complete" from scoping.
    undeclared = transition_payload(rel_id, "complete", ref)
    body = expect(
        post(gent, padova, craft(gent, padova, TRANSITION, undeclared, 10**9)),
        409,
        "undeclared_transition",
    )
    assert (body["state"], body["action"]) == ("scoping", "complete")
    # A city speaks for its own side only: Gent (the mentor) cannot act as the mentee's lead.
    posing = transition_payload(
        rel_id, "abandon", ref, actor_role="mentee_lead", outcome="abandoned"
    )
    expect(
        post(gent, padova, craft(gent, padova, TRANSITION, posing, 10**9)), 403, "role_not_allowed"
    )

    # Forged co-signature: a signature naming a hash Padova does not hold for that version.
    agreement = ok(gent.api("POST", f"/mentoring/{rel_id}/agreement", agreement_body(summary)), 201)
    gent.deliver()
    before = stored(padova)
    forged = {
        "relationship_id": rel_id,
        "action": "sign_agreement",
        "actor_role": "mentor_lead",
        "kind": "agreement",
        "version": 1,
        "sha256": "0" * 64,
    }
    expect(post(gent, padova, craft(gent, padova, SIGNATURE, forged, 10**9)), 409, "hash_mismatch")
    # A document whose content is not what its hash says.
    tampered = {
        "relationship_id": rel_id,
        "action": "propose_agreement",
        "actor_role": "mentor_lead",
        "kind": "agreement",
        "version": 2,
        "sha256": agreement["sha256"],
        "prev_sha256": agreement["sha256"],
        "content": {**agreement["content"], "version": 2, "terms": "Something else"},
    }
    expect(post(gent, padova, craft(gent, padova, DOCUMENT, tampered, 10**9)), 422, "hash_mismatch")
    # A baseline that is not what the cited signed summary says.
    content = json.loads(json.dumps(agreement["content"]))
    content["version"] = 2
    content["goals"][0]["measure"]["baseline"] = "99"
    lying = {**tampered, "content": content, "sha256": content_sha256(content)}
    expect(post(gent, padova, craft(gent, padova, DOCUMENT, lying, 10**9)), 422, "summary_mismatch")
    # Gent's signature statement signed with Graz's key does not verify as Gent's.
    statement = {**forged, "sha256": agreement["sha256"]}
    env = make_envelope(
        SIGNATURE, f"{SIGNATURE}/1", "be-gent", "mentoring", 10**9,
        int(gent.clock().timestamp() * 1000), gent.key.key_id, ["it-padova"], statement,
    )  # fmt: skip
    impostor = canonical_bytes(sign_envelope(env, "be-gent", load_key(graz)))
    assert post(gent, padova, impostor).status_code == 401
    assert stored(padova) == before

    # Malformed or out-of-range payloads of every type are refused, never a server error.
    base = {"relationship_id": rel_id, "action": "plan_session", "actor_role": "member"}
    for n, (type_, payload) in enumerate(
        [
            ("hrc.mentoring.session", {**base, "session_id": "a" * 32, "planned_for": 2**53 - 1}),
            ("hrc.mentoring.session", {**base, "session_id": "a" * 32, "title": None}),
            ("hrc.mentoring.note", {**base, "action": "add_note", "note_id": "b" * 32}),
            ("hrc.mentoring.document", {**base, "kind": "agreement", "content": []}),
            ("hrc.mentoring.transition", {**base, "action": "pause"}),
            ("hrc.mentoring.signature", {**base, "kind": "agreement", "version": "1"}),
            ("hrc.mentoring.proposed", {**proposal, "mentee": "be-gent", "mentor": "be-gent"}),
        ]
    ):
        response = post(gent, padova, craft(gent, padova, type_, payload, 10**9 + n))
        assert response.status_code == 422, (type_, response.get_json())
    assert stored(padova) == before

    # The proposer cannot answer its own proposal; nobody may let it expire by hand.
    refused = gent.api(
        "POST", "/mentoring", {"partner": "it-padova", "our_side": "mentee", "title": "y"}
    )
    own = ok(refused, 201)["id"]
    body = expect(
        gent.api("POST", f"/mentoring/{own}/transitions", {"action": "accept"}),
        409,
        "precondition_failed",
    )
    assert body["precondition"] == "invited_city_answers"
    expect(
        gent.api("POST", f"/mentoring/{own}/transitions", {"action": "expire"}),
        403,
        "role_not_allowed",
    )
    expect(
        gent.api("POST", f"/mentoring/{rel_id}/transitions", {"action": "add_note"}),
        422,
        "wrong_message_type",
    )
    expect(gent.api("GET", f"/mentoring/{'9' * 32}"), 404, "unknown_relationship")


# --- concurrent changes, decline, expiry --------------------------------------------------


def test_concurrent_state_changes_settle_on_the_mentors(network) -> None:
    gent, padova, rel_id, summary = started(network)
    agreement = ok(gent.api("POST", f"/mentoring/{rel_id}/agreement", agreement_body(summary)), 201)
    gent.deliver()
    both_sign(gent, padova, rel_id, "agreement", agreement)
    act(gent, rel_id, "activate")
    gent.deliver()

    # Both act on "active" before hearing of the other: Gent (mentor) pauses, Padova starts closing.
    act(gent, rel_id, "pause")
    act(padova, rel_id, "start_closing")
    gent.deliver()
    report = padova.deliver()
    assert report.dead == 1  # Gent refused Padova's change (state_conflict): the mentor's stands
    views = [relationship(node, rel_id) for node in (gent, padova)]
    assert [(v["state"], v["state_version"]) for v in views] == [("paused", 4), ("paused", 4)]
    assert "replaces 'start_closing'" in views[1]["events"][-1]["note"]
    assert state_ref(gent, rel_id) == state_ref(padova, rel_id)
    with session_scope(padova.runtime.sessions) as session:
        dead = session.query(OutboxItem).filter_by(state="dead").one()
        assert "state_conflict" in (dead.last_error or "")

    # Both make the same change: nothing to settle, no dead letter.
    act(gent, rel_id, "resume")
    act(padova, rel_id, "resume")
    assert gent.deliver().dead == 0 and padova.deliver().dead == 0
    assert [relationship(n, rel_id)["state"] for n in (gent, padova)] == ["active", "active"]
    assert state_ref(gent, rel_id) == state_ref(padova, rel_id)

    # Two different action plan versions with the same number: the mentor's stands on both.
    for node, text in ((gent, "Gent's plan"), (padova, "Padova's plan")):
        ok(
            node.api(
                "POST",
                f"/mentoring/{rel_id}/action-plan",
                {"items": [{"text": text, "city": "it-padova"}]},
            ),
            201,
        )
    gent.deliver()
    padova.deliver()
    plans = [relationship(node, rel_id)["action_plan"] for node in (gent, padova)]
    assert [[(p["version"], p["content"]["items"][0]["text"]) for p in v] for v in plans] == [
        [(1, "Gent's plan")],
        [(1, "Gent's plan")],
    ]


def test_decline_and_expiry(network, clock) -> None:
    from node.jobs import run_job_once

    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    first, second = (
        ok(
            gent.api(
                "POST", "/mentoring", {"partner": "it-padova", "our_side": "mentee", "title": t}
            ),
            201,
        )["id"]
        for t in ("Declined one", "Forgotten one")
    )
    gent.deliver()
    act(padova, first, "decline")
    padova.deliver()
    assert [relationship(n, first)["state"] for n in (gent, padova)] == ["declined", "declined"]
    assert relationship(padova, first)["deadlines"] == []

    clock.advance(days=20)
    assert run_job_once(gent.runtime, "mentoring_expiry") == "0 proposals expired"
    refused = gent.api("POST", f"/mentoring/{second}/transitions", {"action": "accept"})
    assert refused.status_code == 409
    clock.advance(days=1, seconds=1)
    # Only the proposer's node lets its proposal expire; Padova's node waits for it.
    assert run_job_once(padova.runtime, "mentoring_expiry") == "0 proposals expired"
    assert relationship(padova, second)["deadlines"][0]["overdue"] is True
    assert run_job_once(gent.runtime, "mentoring_expiry") == "1 proposals expired"
    gent.deliver()
    for node in (gent, padova):
        view = relationship(node, second)
        assert (view["state"], view["deadlines"]) == ("expired", [])
        assert view["events"][-1]["action"] == "expire"
    assert run_job_once(gent.runtime, "mentoring_expiry") == "0 proposals expired"
