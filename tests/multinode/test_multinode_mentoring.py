"""Mentoring between two real twinned city nodes, with the secretariat they joined.

Three ``hrcnet serve`` processes on 127.0.0.1: Gent and Padova join the secretariat and twin
with each other; Padova publishes a signed summary; Gent proposes to mentor Padova and the
relationship runs through the API from proposal to co-signed closure. Every message crosses
over real HTTP as a signed envelope, carried by each node's scheduler (``deliver_outbox`` every
5 s). At the end both cities hold the same state and the same co-signed hashes, and the
secretariat holds metadata only.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from node.config import load_config
from node.db import session_scope
from node.jobs import node_runtime
from node.network.models import InEnvelope
from tests.multinode.harness import Member as StaffMember
from tests.multinode.harness import NodeFactory, official_token, wait_until
from tests.multinode.test_multinode_federation import discard

pytestmark = pytest.mark.multinode

SECRETARIAT = "hrc-secretariat"
HOUSING = "HRC-HOU-01"
GOAL = "Halve evictions without alternative accommodation by 2030."
SESSION_NOTES = "Shared the eviction-prevention protocol; Padova maps its districts."
PRIVATE = "Ask Ana about the costs before the next call."
RECEIVED = "/peers/it-padova/summaries"


class Member(StaffMember):
    """A member with the mentoring views and actions."""

    def view(self, rel_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/mentoring/{rel_id}"))

    def seen(self, rel_id: str) -> dict[str, Any] | None:
        """The relationship as this node holds it, or None before its proposal arrived."""
        response = self.node.api("GET", f"/api/v1/mentoring/{rel_id}", token=self.token)
        return dict(response.json()) if response.status_code == 200 else None

    def act(self, rel_id: str, action: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/mentoring/{rel_id}/transitions", {"action": action}))

    def sign(self, rel_id: str, path: str, document: dict[str, Any]) -> None:
        signed = self.call(
            "POST",
            f"/mentoring/{rel_id}/{path}/{document['version']}/sign",
            {"sha256": document["sha256"]},
            expect=201,
        )
        assert signed["sha256"] == document["sha256"] and signed["verified"], signed


def start(factory: NodeFactory) -> tuple[Member, Member, Member]:
    def secretariat() -> Member:
        [node] = factory(
            SECRETARIAT, start=False, name="Secretariat", country="AT", region="europe",
            role="secretariat",
        )  # fmt: skip
        token = node.create_user("staff@secretariat.example", role="secretariat")
        node.start()
        return Member(node, token)

    def city(city_id: str, name: str, country: str) -> Member:
        [node] = factory(city_id, start=False, name=name, country=country)
        token = official_token(node)
        node.start()
        return Member(node, token)

    with ThreadPoolExecutor(max_workers=3) as pool:
        sec = pool.submit(secretariat)
        gent = pool.submit(city, "be-gent", "Gent", "BE")
        padova = pool.submit(city, "it-padova", "Padova", "IT")
        return sec.result(), gent.result(), padova.result()


def join_and_twin(sec: Member, gent: Member, padova: Member) -> None:
    for city in (gent, padova):
        city.call("POST", "/peers", {"url": sec.base_url}, expect=202)  # queued for discovery
    wait_until(
        "the secretariat lists both applications",
        lambda: len(sec.items("/members")) == 2,
        sec, gent, padova,
    )  # fmt: skip
    for city in (gent, padova):
        sec.call("POST", f"/members/{city.city_id}/admit", {})
    gent.call("POST", "/peers", {"url": padova.base_url}, expect=202)
    wait_until(
        "Padova sees Gent's twinning request",
        lambda: padova.peer_states().get("be-gent") == "pending",
        gent, padova,
    )  # fmt: skip
    padova.call("POST", "/peers/be-gent/accept", {})
    for city, other in ((gent, padova), (padova, gent)):
        wait_until(
            f"{city.city_id} is a member and twinned with {other.city_id}",
            lambda city=city, other=other: city.peer_states()
            == {SECRETARIAT: "active", other.city_id: "active"},
            sec, city, other,
        )  # fmt: skip


def publish_summary(gent: Member, padova: Member) -> str:
    """Padova's signed 2025 summary, as Gent receives it (the goals' baseline comes from it)."""
    padova.call(
        "POST",
        "/results",
        [{"indicator": HOUSING, "period": "2025", "value": "12.5", "status": "validated"}],
        expect=201,
    )
    padova.call(
        "POST", "/targets", {"indicator": HOUSING, "target": {"period": "2030", "value": "5"}}
    )
    published = padova.call("POST", "/summaries", {"period": "2025"}, expect=201)["items"]
    [for_gent] = [e["envelope_sha256"] for e in published if e["audience"] == ["be-gent"]]
    wait_until(
        "Gent holds Padova's summary",
        lambda: for_gent in {s["envelope_sha256"] for s in gent.items(RECEIVED)},
        gent, padova,
    )  # fmt: skip
    return str(for_gent)


def test_mentoring_from_proposal_to_cosigned_closure(
    request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    factory = NodeFactory(request, tmp_path / "nodes")
    try:
        sec, gent, padova = start(factory)
        join_and_twin(sec, gent, padova)
        run_relationship(sec, gent, padova)
        discard(gent, padova)
        check_secretariat_store(sec)
    finally:
        problems = factory.teardown()
        if problems:
            pytest.fail("teardown of nodes failed:\n" + "\n".join(problems))


def until_state(member: Member, rel_id: str, state: str, *watch: Member) -> dict[str, Any]:
    return wait_until(
        f"{member.city_id} sees the relationship {state}",
        lambda: (view := member.seen(rel_id)) is not None and view["state"] == state and view,
        member, *watch,
    )  # fmt: skip


def run_relationship(sec: Member, gent: Member, padova: Member) -> None:
    summary = publish_summary(gent, padova)
    rel_id = gent.call(
        "POST",
        "/mentoring",
        {"partner": "it-padova", "our_side": "mentor", "title": "Eviction prevention"},
        expect=201,
    )["id"]
    proposal = until_state(padova, rel_id, "proposed", gent)
    assert [d["kind"] for d in proposal["deadlines"]] == ["mentoring_answer"]
    padova.act(rel_id, "accept")
    until_state(gent, rel_id, "scoping", padova)

    agreement = gent.call(
        "POST",
        f"/mentoring/{rel_id}/agreement",
        {
            "terms": "Monthly calls.",
            "starts_on": "2026-01-01",
            "ends_on": "2026-12-31",
            "goals": [{"text": GOAL, "measure": {"indicator": HOUSING, "summary_sha256": summary}}],
        },
        expect=201,
    )
    assert agreement["content"]["goals"][0]["measure"]["baseline"] == "12.5"
    wait_until(
        "Padova holds agreement version 1",
        lambda: [d["sha256"] for d in padova.view(rel_id)["agreement"]] == [agreement["sha256"]],
        gent, padova,
    )  # fmt: skip
    padova.sign(rel_id, "agreement", agreement)
    gent.sign(rel_id, "agreement", agreement)
    for member, other in ((gent, padova), (padova, gent)):
        wait_until(
            f"{member.city_id} sees the agreement co-signed",
            lambda member=member: member.view(rel_id)["agreement"][0]["cosigned"],
            member, other,
        )  # fmt: skip
    # Padova's node found the goal's baseline in the summary it signed itself.
    assert padova.view(rel_id)["goals"][0]["measure_check"] == "verified"
    padova.act(rel_id, "activate")
    until_state(gent, rel_id, "active", padova)

    session_id = gent.call(
        "POST",
        f"/mentoring/{rel_id}/sessions",
        {"title": "Kick-off", "planned_for": "2026-02-01T09:00:00Z"},
        expect=201,
    )["id"]
    wait_until(
        "Padova sees the planned session",
        lambda: [s["id"] for s in padova.view(rel_id)["sessions"]] == [session_id],
        gent, padova,
    )  # fmt: skip
    padova.call("POST", f"/mentoring/{rel_id}/sessions/{session_id}/hold", {})
    wait_until(
        "Gent sees the session held",
        lambda: gent.view(rel_id)["sessions"][0]["state"] == "held",
        gent, padova,
    )  # fmt: skip
    gent.call(
        "POST", f"/mentoring/{rel_id}/sessions/{session_id}/document", {"notes": SESSION_NOTES}
    )
    padova.call(
        "POST", f"/mentoring/{rel_id}/notes", {"kind": "midpoint", "text": "Half way."}, expect=201
    )
    gent.call(
        "POST", f"/mentoring/{rel_id}/notes", {"kind": "private", "text": PRIVATE}, expect=201
    )
    wait_until(
        "both hold the documented session and the mid-point review",
        lambda: all(
            (v := m.view(rel_id))["sessions"][0]["notes"] == SESSION_NOTES and v["midpoint_done"]
            for m in (gent, padova)
        ),
        gent, padova,
    )  # fmt: skip
    gent.act(rel_id, "start_closing")
    until_state(padova, rel_id, "closing", gent)

    goal_id = agreement["content"]["goals"][0]["goal_id"]
    report = padova.call(
        "POST",
        f"/mentoring/{rel_id}/closure-report",
        {
            "summary": "Fewer evictions.",
            "goals": [{"goal_id": goal_id, "status": "partly_achieved"}],
        },
        expect=201,
    )
    wait_until(
        "Gent holds the closure report",
        lambda: [d["sha256"] for d in gent.view(rel_id)["closure_report"]] == [report["sha256"]],
        gent, padova,
    )  # fmt: skip
    gent.sign(rel_id, "closure-report", report)
    padova.sign(rel_id, "closure-report", report)
    wait_until(
        "Gent sees the closure report co-signed",
        lambda: gent.view(rel_id)["closure_report"][0]["cosigned"],
        gent, padova,
    )  # fmt: skip
    gent.act(rel_id, "complete")
    until_state(padova, rel_id, "closed", gent)

    # Both cities end with the same state, history and co-signed hashes.
    views = {m.city_id: m.view(rel_id) for m in (gent, padova)}

    def shared(view: dict[str, Any]) -> dict[str, Any]:
        return {
            "state": (view["state"], view["outcome"], view["state_version"]),
            "history": [(e["action"], e["actor_city"], e["to_state"]) for e in view["events"]],
            "documents": {
                kind: [
                    (d["version"], d["sha256"], sorted(s["city_id"] for s in d["signatures"]))
                    for d in view[kind]
                ]
                for kind in ("agreement", "closure_report", "action_plan")
            },
            "sessions": [(s["id"], s["state"], s["notes"]) for s in view["sessions"]],
        }

    assert shared(views["be-gent"]) == shared(views["it-padova"])
    assert shared(views["be-gent"])["state"] == ("closed", "completed", 5)
    assert shared(views["be-gent"])["documents"]["agreement"] == [
        (1, agreement["sha256"], ["be-gent", "it-padova"])
    ]
    assert shared(views["be-gent"])["documents"]["closure_report"] == [
        (1, report["sha256"], ["be-gent", "it-padova"])
    ]
    for view in views.values():
        assert all(s["verified"] for d in view["agreement"] for s in d["signatures"]), view
        assert view["deadlines"] == []
    assert [n["kind"] for n in views["be-gent"]["notes"]] == ["midpoint", "private"]
    assert [n["kind"] for n in views["it-padova"]["notes"]] == ["midpoint"]

    # The secretariat learns each state change from both cities, as metadata.
    rows = wait_until(
        "the secretariat holds both cities' reports of the completion",
        lambda: (
            len(items := sec.items("/mentoring/metadata")) == 2
            and all(r["state"] == "closed" for r in items)
            and items
        ),
        sec, gent, padova,
    )  # fmt: skip
    assert {
        (r["reporter"], r["mentor"], r["mentee"], r["outcome"], r["state_version"]) for r in rows
    } == {
        ("be-gent", "be-gent", "it-padova", "completed", 5),
        ("it-padova", "be-gent", "it-padova", "completed", 5),
    }
    assert {r["relationship_id"] for r in rows} == {rel_id}
    refused = sec.node.api("GET", "/api/v1/mentoring", token=sec.token)
    assert refused.status_code == 403  # the secretariat's staff see no relationship


def check_secretariat_store(sec: Member) -> None:
    """Everything of mentoring the secretariat ever stored is metadata (read from its database)."""
    runtime = node_runtime(load_config(sec.node.data_dir, environ=sec.node.env()))
    try:
        with session_scope(runtime.sessions) as session:
            stored = [
                (e.type, json.loads(e.raw)["payload"])
                for e in session.query(InEnvelope)
                if e.type.startswith("hrc.mentoring.")
            ]
    finally:
        runtime.engine.dispose()
    assert stored and {type_ for type_, _p in stored} == {"hrc.mentoring.metadata"}
    assert {p["state"] for _t, p in stored} == {
        "proposed", "scoping", "active", "closing", "closed"
    }  # fmt: skip
    for _type, payload in stored:
        assert set(payload) == {
            "relationship_id", "mentor", "mentee", "state", "outcome", "state_version",
            "proposed_at", "changed_at",
        }  # fmt: skip
    text = json.dumps(stored)
    assert not any(secret in text for secret in (GOAL, SESSION_NOTES, PRIVATE, "Half way"))
