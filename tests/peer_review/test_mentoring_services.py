"""Mentoring services on one node: local roles through the API, deadlines, co-signed
documents and their hashes, goals measured from signed summaries, what is sent and what is not."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
import rfc8785
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from node.models import User
from node.network.models import OutboxItem, OutEnvelope
from node.permissions import CITY_ROLES
from peer_review import deadlines
from peer_review.mentoring import acting, documents, jobs
from peer_review.mentoring.models import Relationship
from schemas.mentoring import METADATA_TYPE, NOTE_TYPE
from tests.mentoring_support import PARTNER, add_peer, receive_proposal
from tests.support import Caller, Clock

HOUSING = "HRC-HOU-01"


@pytest.fixture
def twin(db: Any, clock: Clock) -> None:
    add_peer(db, clock)


def rel_id(n: int) -> str:
    return f"{n:032x}"


def call(client: FlaskClient, who: Caller, method: str, path: str, body: Any = None) -> Any:
    return client.open(f"/api/v1{path}", method=method, json=body, headers=who.headers)


def accepted(client: FlaskClient, app: Flask, db: Any, clock: Clock, official: Caller) -> str:
    rid = receive_proposal(app, db, clock, rel_id(1))
    response = call(client, official, "POST", f"/mentoring/{rid}/transitions", {"action": "accept"})
    assert response.status_code == 200, response.get_json()
    return rid


# --- local roles, through the API ----------------------------------------------------------------

# role: (may read, may answer for the city, may take part)
LOCAL = {
    "admin": (True, True, True),
    "official": (True, True, True),
    "reviewer": (True, False, True),
    "data_collector": (False, False, False),
    "cso_partner": (False, False, False),
    "viewer": (False, False, False),
}


@pytest.mark.usefixtures("twin")
def test_each_local_role_through_the_api(
    client: FlaskClient, app: Flask, db: Any, clock: Clock, create_user: Any
) -> None:
    assert set(LOCAL) == set(CITY_ROLES)
    for n, role in enumerate(CITY_ROLES, start=1):
        who = create_user(role)
        read, lead, member = LOCAL[role]
        rid = receive_proposal(app, db, clock, rel_id(n), seq=n)
        listed = call(client, who, "GET", "/mentoring")
        assert listed.status_code == (200 if read else 403), role
        if not read:
            assert listed.get_json()["code"] == "role_not_allowed"
        note = call(
            client, who, "POST", f"/mentoring/{rid}/notes", {"kind": "private", "text": "x"}
        )
        assert note.status_code == (201 if member else 403), (role, note.get_json())
        answer = call(client, who, "POST", f"/mentoring/{rid}/transitions", {"action": "accept"})
        assert answer.status_code == (200 if lead else 403), (role, answer.get_json())
        if answer.status_code == 403:
            assert answer.get_json()["code"] == "role_not_allowed"
        propose = call(
            client,
            who,
            "POST",
            "/mentoring",
            {"partner": PARTNER, "our_side": "mentee", "title": "t"},
        )
        assert propose.status_code == (201 if lead else 403), (role, propose.get_json())
    anonymous = client.get("/api/v1/mentoring")
    assert anonymous.status_code == 401


# --- deadlines -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("twin")
def test_deadlines_follow_the_transitions(
    client: FlaskClient, app: Flask, db: Any, clock: Clock, official: Caller
) -> None:
    start = acting.from_ms(acting.ms(clock()))
    rid = receive_proposal(app, db, clock, rel_id(1))
    subject = f"mentoring:{rid}"
    with db() as session:
        [answer] = deadlines.open_deadlines(session, subject)
        assert (answer.kind, answer.due_at - start) == ("mentoring_answer", timedelta(days=21))
        assert answer.recipient_roles == ["admin", "official"]
    clock.advance(days=3)
    call(client, official, "POST", f"/mentoring/{rid}/transitions", {"action": "accept"})
    with db() as session:
        [agreement] = deadlines.open_deadlines(session, subject)
        assert agreement.kind == "mentoring_agreement"
        assert agreement.due_at == acting.from_ms(acting.ms(clock())) + timedelta(days=45)
        states = {d.kind: d.state for d in session.scalars(select(deadlines.Deadline))}
        assert states == {"mentoring_answer": "met", "mentoring_agreement": "open"}

    planned = call(
        client,
        official,
        "POST",
        f"/mentoring/{rid}/sessions",
        {"title": "Kick-off", "planned_for": "2026-03-05T10:00:00+01:00"},
    )
    assert planned.status_code == 201 and planned.get_json()["planned_for"].startswith(
        "2026-03-05T09:00"
    )
    sid = planned.get_json()["id"]
    assert (
        call(
            client, official, "POST", f"/mentoring/{rid}/sessions/{sid}/document", {"notes": "x"}
        ).status_code
        == 409
    )
    held = call(client, official, "POST", f"/mentoring/{rid}/sessions/{sid}/hold", {})
    assert held.status_code == 200
    with db() as session:
        [notes] = deadlines.open_deadlines(session, f"mentoring-session:{sid}")
        assert notes.kind == "session_notes" and notes.recipient_roles == [
            "admin",
            "official",
            "reviewer",
        ]
    clock.advance(days=8)
    view = call(client, official, "GET", f"/mentoring/{rid}").get_json()
    assert view["sessions"][0]["notes_overdue"] is True  # derived from the dates
    empty = call(client, official, "POST", f"/mentoring/{rid}/sessions/{sid}/document", {})
    assert empty.status_code == 409 and empty.get_json()["precondition"] == "has_notes"
    done = call(
        client, official, "POST", f"/mentoring/{rid}/sessions/{sid}/document", {"notes": "Met."}
    )
    assert done.status_code == 200 and done.get_json()["notes_overdue"] is False
    call(client, official, "POST", f"/mentoring/{rid}/transitions", {"action": "abandon"})
    with db() as session:
        assert deadlines.open_deadlines(session, subject) == []
        rel = session.get(Relationship, rid)
        assert (rel.state, rel.outcome, rel.state_version) == ("closed", "abandoned", 3)


# --- documents -----------------------------------------------------------------------------------


def own_summary(client: FlaskClient, official: Caller) -> str:
    figures = [{"indicator": HOUSING, "period": "2025", "value": "12.5", "status": "validated"}]
    assert call(client, official, "POST", "/results", figures).status_code == 201
    target = {"indicator": HOUSING, "target": {"period": "2030", "value": "5"}}
    assert call(client, official, "POST", "/targets", target).status_code == 200
    [published] = call(client, official, "POST", "/summaries", {"period": "2025"}).get_json()[
        "items"
    ]
    return str(published["envelope_sha256"])


def goal(summary: str, **measure: Any) -> dict[str, Any]:
    return {
        "text": "Halve evictions without rehousing by 2030.",
        "indicators": ["HRC-HOU-02"],
        "measure": {"indicator": HOUSING, "summary_sha256": summary, **measure},
    }


@pytest.mark.usefixtures("twin")
def test_agreement_versions_hashes_and_signatures(
    client: FlaskClient, app: Flask, db: Any, clock: Clock, official: Caller
) -> None:
    rid = accepted(client, app, db, clock, official)
    summary = own_summary(client, official)
    body = {"starts_on": "2026-03-01", "ends_on": "2027-02-28", "goals": []}
    empty = call(client, official, "POST", f"/mentoring/{rid}/agreement", body)
    assert empty.status_code == 409 and empty.get_json()["precondition"] == "has_goal"

    body["goals"] = [goal(summary)]
    first = call(client, official, "POST", f"/mentoring/{rid}/agreement", body).get_json()
    # The hash a city signs is SHA-256 of the RFC 8785 form (checked with the reference package).
    assert first["sha256"] == hashlib.sha256(rfc8785.dumps(first["content"])).hexdigest()
    [made] = first["content"]["goals"]
    assert made["indicators"] == [HOUSING, "HRC-HOU-02"]  # the measured one is linked too
    assert made["measure"]["baseline"] == "12.5" and made["measure"]["period"] == "2025"
    assert made["measure"]["target"] == {"period": "2030", "value": "5"}
    with db() as session:
        rel = session.get(Relationship, rid)
        assert documents.check_measure(session, rel, made["measure"]) is None
        lying = {**made["measure"], "baseline": "13"}
        assert "says 12.5" in (documents.check_measure(session, rel, lying) or "")
        assert (
            documents.check_measure(session, rel, {**lying, "summary_sha256": "1" * 64})
            == "not_held"
        )

    wrong = call(
        client, official, "POST", f"/mentoring/{rid}/agreement/1/sign", {"sha256": "2" * 64}
    )
    assert wrong.status_code == 409 and wrong.get_json()["code"] == "hash_mismatch"
    signed = call(
        client, official, "POST", f"/mentoring/{rid}/agreement/1/sign", {"sha256": first["sha256"]}
    )
    assert signed.status_code == 201 and signed.get_json()["verified"] is True
    again = call(
        client, official, "POST", f"/mentoring/{rid}/agreement/1/sign", {"sha256": first["sha256"]}
    )
    assert again.get_json()["precondition"] == "not_signed_yet"

    # An agreed target replaces the summary's; the edit is version 2, unsigned.
    body["goals"] = [
        {**goal(summary, target={"period": "2028", "value": "8"}), "goal_id": made["goal_id"]}
    ]
    second = call(client, official, "POST", f"/mentoring/{rid}/agreement", body).get_json()
    assert second["version"] == 2 and second["signatures"] == [] and not second["cosigned"]
    assert second["content"]["goals"][0]["measure"]["target_source"] == "agreed"
    assert second["content"]["goals"][0]["goal_id"] == made["goal_id"]
    stale = call(
        client, official, "POST", f"/mentoring/{rid}/agreement/1/sign", {"sha256": first["sha256"]}
    )
    assert stale.status_code == 409
    view = call(client, official, "GET", f"/mentoring/{rid}").get_json()
    assert [(v["version"], v["current"]) for v in view["agreement"]] == [(1, False), (2, True)]
    assert [s["city_id"] for s in view["agreement"][0]["signatures"]] == ["be-gent"]

    unknown = call(
        client, official, "POST", f"/mentoring/{rid}/agreement", {**body, "goals": [goal("3" * 64)]}
    )
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "unknown_summary"
    other = call(
        client,
        official,
        "POST",
        f"/mentoring/{rid}/agreement",
        {**body, "goals": [goal(summary, indicator="HRC-EDU-01")]},
    )
    assert other.status_code == 422
    assert (
        call(
            client, official, "POST", f"/mentoring/{rid}/agreement/9/sign", {"sha256": "2" * 64}
        ).status_code
        == 404
    )
    report = {"summary": "Done.", "goals": [{"goal_id": "4" * 32, "status": "achieved"}]}
    assert (
        call(client, official, "POST", f"/mentoring/{rid}/closure-report", report).status_code
        == 409
    )  # not closing
    plan = {"items": [{"text": "Visit", "city": "fr-lyon"}]}
    assert (
        call(client, official, "POST", f"/mentoring/{rid}/action-plan", plan).get_json()["code"]
        == "validation_failed"
    )


@pytest.mark.usefixtures("twin")
def test_what_is_sent_and_what_stays(
    client: FlaskClient, app: Flask, db: Any, clock: Clock, official: Caller
) -> None:
    add_peer(db, clock, "hrc-secretariat", role="secretariat")
    rid = accepted(client, app, db, clock, official)

    def sent(type_: str) -> list[dict[str, Any]]:
        with db() as session:
            rows = session.scalars(
                select(OutEnvelope).where(OutEnvelope.type == type_).order_by(OutEnvelope.seq)
            )
            return [json.loads(r.raw) for r in rows]

    assert [m["payload"]["state"] for m in sent(METADATA_TYPE)] == ["proposed", "scoping"]
    assert all(m["audience"] == ["hrc-secretariat"] for m in sent(METADATA_TYPE))
    assert set(sent(METADATA_TYPE)[-1]["payload"]) == {
        "relationship_id", "mentor", "mentee", "state", "outcome", "state_version",
        "proposed_at", "changed_at",
    }  # fmt: skip
    with db() as session:
        queued = session.query(OutboxItem).count()
    private = call(
        client, official, "POST", f"/mentoring/{rid}/notes", {"kind": "private", "text": "Only us"}
    )
    assert private.status_code == 201
    with db() as session:
        assert session.query(OutboxItem).count() == queued
        user = session.scalar(select(User).where(User.email == official.email))
        assert user is not None
    shared = call(
        client, official, "POST", f"/mentoring/{rid}/notes", {"kind": "progress", "text": "Both"}
    )
    assert shared.status_code == 201
    [note] = sent(NOTE_TYPE)
    assert note["audience"] == [PARTNER] and note["payload"]["text"] == "Both"
    assert official.email not in json.dumps(note)  # personal data stays on its node
    midpoint = call(
        client, official, "POST", f"/mentoring/{rid}/notes", {"kind": "midpoint", "text": "x"}
    )
    assert midpoint.status_code == 409  # only once active

    # A suspended member reports nothing more to the secretariat (it would be refused).
    from node.secretariat.models import DirectoryEntry

    with db() as session:
        session.add(
            DirectoryEntry(
                city_id="be-gent", name="Gent", region="europe-west", country="BE",
                base_url="http://127.0.0.1:5001", state="suspended", keys=[], directory_seq=1,
                updated_at=clock(),
            )
        )  # fmt: skip
    call(client, official, "POST", f"/mentoring/{rid}/transitions", {"action": "end_early"})
    assert [m["payload"]["state"] for m in sent(METADATA_TYPE)] == ["proposed", "scoping"]


@pytest.mark.usefixtures("twin")
def test_our_own_proposal_expires_after_21_days(
    client: FlaskClient, app: Flask, db: Any, clock: Clock, official: Caller
) -> None:
    made = call(
        client,
        official,
        "POST",
        "/mentoring",
        {"partner": PARTNER, "our_side": "mentor", "title": "t"},
    )
    rid = made.get_json()["id"]
    config = app.extensions["hrcnet"].config
    with db() as session:
        assert (
            jobs.expire_overdue(session, config, clock.advance(days=21) - timedelta(seconds=1)) == 0
        )
    with db() as session:
        assert jobs.expire_overdue(session, config, clock()) == 1
    view = call(client, official, "GET", f"/mentoring/{rid}").get_json()
    assert (view["state"], view["events"][-1]["actor_city"]) == ("expired", "be-gent")
    assert view["actions"] == [{"action": "add_private_note", "allowed": True, "reason": None}]
