"""A peer review across four real ``hrcnet serve`` processes on 127.0.0.1.

The secretariat chairs (its node is the review's home), Gent is the city under review, Lyon and
Padova review. Everything goes through the HTTP API and the nodes' own schedulers: a revision
round on a corrected summary, a recommendation co-signed by two cities, a "noted" position with
its explanation, a follow-up report with a peer's assessment. At the end every node holds the
same event log (same head hash), and the outcome is public.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import POSTGRES_ENV
from tests.multinode.harness import NodeFactory, official_token, wait_until
from tests.multinode.test_multinode_secretariat import Member

pytestmark = pytest.mark.multinode

SECRETARIAT = "hrc-secretariat"
CITIES = {"be-gent": ("Gent", "BE"), "fr-lyon": ("Lyon", "FR"), "it-padova": ("Padova", "IT")}
HOUSING = "HRC-HOU-01"
# The home node and the reviewed city run on PostgreSQL when the suite has a server (make test
# always does), the reviewers on SQLite: one network, both backends.
BACKEND = "postgresql" if os.environ.get(POSTGRES_ENV) else "sqlite"
THEME = "Adequate housing"


@dataclass
class Cast:
    chair: Member
    gent: Member  # official: the focal point
    gent_admin: Member  # admin: the validating authority
    lyon: Member
    padova: Member

    def nodes(self) -> list[Member]:
        return [self.chair, self.gent, self.lyon, self.padova]


@pytest.fixture(scope="module")
def cast(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cast]:
    factory = NodeFactory(request, tmp_path_factory.mktemp("review-net") / "nodes")
    try:
        [sec] = factory(
            SECRETARIAT,
            start=False,
            name="Secretariat",
            country="AT",
            region="europe",
            role="secretariat",
        )
        chair = Member(sec, sec.create_user("chair@secretariat.example", role="secretariat"))
        members: dict[str, Member] = {}
        gent_admin = ""
        for city_id, (name, country) in CITIES.items():
            [node] = factory(
                city_id, start=False, name=name, country=country, region="europe-west", role="city"
            )
            if city_id == "be-gent":
                gent_admin = node.create_user("mayor@be-gent.example", role="admin")
            members[city_id] = Member(node, official_token(node))
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda m: m.node.start(), [chair, *members.values()]))
        for member in members.values():
            member.call("POST", "/peers", {"url": sec.base_url}, expect=202)
        wait_until("three applications", lambda: len(chair.items("/members")) == 3, chair)
        for city_id in CITIES:
            chair.call("POST", f"/members/{city_id}/admit", {})
        for member in members.values():
            wait_until(
                f"{member.city_id} holds the directory",
                lambda m=member: len(m.items("/directory")) == 3,
                chair,
                member,
            )
        yield Cast(
            chair,
            members["be-gent"],
            Member(members["be-gent"].node, gent_admin),
            members["fr-lyon"],
            members["it-padova"],
        )
    finally:
        problems = factory.teardown()
        if problems:
            pytest.fail("teardown of nodes failed:\n" + "\n".join(problems))


def act(member: Member, rid: str, action: str, data: dict[str, Any] | None = None) -> Any:
    return member.call("POST", f"/reviews/{rid}/actions", {"action": action, "data": data or {}})


def peek(member: Member, path: str) -> dict[str, Any] | None:
    """The JSON of a GET, or None while the node does not know the object yet (404)."""
    response = member.node.api("GET", "/api/v1" + path, token=member.token)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text[:500]
    body: dict[str, Any] = response.json()
    return body


def converged(cast: Cast, rid: str, state: str) -> dict[str, Any]:
    """Wait until every participant holds the home node's head in ``state``; return its log."""

    def same_head() -> dict[str, Any] | None:
        home, view = peek(cast.chair, f"/reviews/{rid}/events"), peek(cast.chair, f"/reviews/{rid}")
        if home is None or view is None or view["state"] != state:
            return None
        participants = {view["cur"]} | {a["city"] for a in view["assignments"]}
        for member in cast.nodes()[1:]:
            if member.city_id not in participants:
                continue
            log = peek(member, f"/reviews/{rid}/events")
            if log is None or log["head_hash"] != home["head_hash"]:
                return None
        return dict(home)

    return wait_until(f"every node at '{state}' on one head", same_head, *cast.nodes())


def recommendation(member: Member, rid: str, rec_id: str) -> dict[str, Any]:
    recs = member.call("GET", f"/reviews/{rid}")["recommendations"]
    return dict(next(r for r in recs if r["id"] == rec_id))


def publish(member: Member, value: str) -> str:
    member.call(
        "POST",
        "/results",
        [
            {
                "indicator": HOUSING,
                "period": "2025",
                "value": value,
                "status": "validated",
                # A second publication corrects a validated figure: it says why (issue 15).
                "reason": "corrected after the review",
                "confirm_outlier": True,
            }
        ],
        expect=201,
    )
    items = member.call("POST", "/summaries", {"period": "2025"}, expect=201)["items"]
    return str(items[-1]["envelope_sha256"])


def test_full_review_across_real_nodes(cast: Cast) -> None:
    first = publish(cast.gent, "12.5")
    draft = cast.gent.call(
        "POST",
        "/reviews",
        {"title": "Housing 2025", "scope": {"themes": [THEME]}, "summaries": [first]},
        expect=201,
    )
    rid = draft["id"]
    assert act(cast.gent_admin, rid, "submit")["pending"] is True
    converged(cast, rid, "requested")

    act(cast.chair, rid, "form_panel")
    act(cast.chair, rid, "invite", {"city": "fr-lyon"})
    act(cast.chair, rid, "invite", {"city": "it-padova"})
    converged(cast, rid, "panel_forming")
    act(cast.lyon, rid, "accept")
    act(cast.padova, rid, "accept")
    wait_until(
        "both reviewers accepted",
        lambda: (
            [a["state"] for a in cast.chair.call("GET", f"/reviews/{rid}")["assignments"]]
            == ["accepted", "accepted"]
        ),
        *cast.nodes(),
    )
    act(cast.chair, rid, "open_round")
    converged(cast, rid, "in_review")

    anchor = {"summary_sha256": first, "indicator": HOUSING, "period": "2025"}
    act(
        cast.lyon,
        rid,
        "comment",
        {
            "id": "aa000001",
            "kind": "question",
            "anchor": anchor,
            "text": "How are evictions counted?",
            "readers": ["panel", "cur", "public"],
        },
    )
    content = {
        "text": "Adopt an eviction-prevention protocol.",
        "lead_verb": "adopt",
        "action_level": 5,
        "themes": [THEME],
        "indicators": [HOUSING],
    }
    act(
        cast.lyon,
        rid,
        "draft_recommendation",
        {"id": "bb000001", "content": content, "issuing_cities": ["fr-lyon", "it-padova"]},
    )
    act(
        cast.padova,
        rid,
        "draft_recommendation",
        {
            "id": "bb000002",
            "issuing_cities": ["it-padova"],
            "content": {
                "text": "Publish eviction data by district.",
                "lead_verb": "publish",
                "action_level": 4,
                "themes": [THEME],
            },
        },
    )
    rec = wait_until(
        "Padova holds Lyon's recommendation",
        lambda: next(
            (
                r
                for r in cast.padova.call("GET", f"/reviews/{rid}")["recommendations"]
                if r["id"] == "bb000001"
            ),
            None,
        ),
        cast.padova,
        cast.chair,
    )
    act(
        cast.padova,
        rid,
        "cosign_recommendation",
        {"id": "bb000001", "content_sha256": rec["content_sha256"]},
    )
    act(cast.lyon, rid, "submit_review", {"verdict": "concerns", "summary": "Needs a plan."})
    act(
        cast.padova,
        rid,
        "submit_review",
        {"verdict": "endorsed", "summary": "Fine.", "endorsed_hash": first},
    )
    wait_until(
        "both reviews in",
        lambda: all(
            a["state"] == "submitted"
            for a in cast.chair.call("GET", f"/reviews/{rid}")["assignments"]
        ),
        *cast.nodes(),
    )
    act(cast.chair, rid, "close_round")
    act(cast.chair, rid, "request_revision")
    converged(cast, rid, "revision_requested")

    second = publish(cast.gent, "11.0")  # the corrected figure: revision 2 of 2025
    act(cast.gent_admin, rid, "submit_revision", {"summary_hashes": [second]})
    converged(cast, rid, "in_review")
    padova_view = cast.padova.call("GET", f"/reviews/{rid}")
    assert padova_view["round"] == 2
    assert [c["outdated"] for c in padova_view["comments"]] == [True]
    assert all(a["endorsed_hash"] is None for a in padova_view["assignments"])  # lapsed
    act(cast.lyon, rid, "submit_review", {"verdict": "comment_only", "summary": "Better."})
    act(
        cast.padova,
        rid,
        "submit_review",
        {"verdict": "endorsed", "summary": "Good.", "endorsed_hash": second},
    )
    wait_until(
        "both round-2 reviews in",
        lambda: all(
            a["state"] == "submitted"
            for a in cast.chair.call("GET", f"/reviews/{rid}")["assignments"]
        ),
        *cast.nodes(),
    )
    for step in ("close_round", "start_factual_check", "issue"):
        act(cast.chair, rid, step)
    converged(cast, rid, "awaiting_response")

    act(
        cast.gent_admin,
        rid,
        "respond",
        {
            "positions": [
                {"recommendation_id": "bb000001", "position": "supported"},
                {
                    "recommendation_id": "bb000002",
                    "position": "noted",
                    "explanation": "District figures fall under the small-cell threshold.",
                },
            ]
        },
    )
    converged(cast, rid, "responded")
    act(cast.chair, rid, "adopt")
    converged(cast, rid, "follow_up")
    act(
        cast.gent_admin,
        rid,
        "report_follow_up",
        {
            "entries": [
                {
                    "recommendation_id": "bb000001",
                    "status": "in_progress",
                    "note": "Protocol drafted.",
                    "evidence": [second],
                }
            ]
        },
    )
    wait_until(
        "the follow-up report reached Lyon",
        lambda: recommendation(cast.lyon, rid, "bb000001")["status"],
        cast.lyon,
        cast.chair,
    )
    act(
        cast.lyon,
        rid,
        "assess",
        {
            "entries": [
                {
                    "recommendation_id": "bb000001",
                    "status": "partially_implemented",
                    "note": "Only in two districts so far.",
                }
            ]
        },
    )
    wait_until(
        "Lyon's assessment recorded",
        lambda: len(recommendation(cast.chair, rid, "bb000001")["follow_up"]) == 2,
        cast.chair,
        cast.lyon,
    )
    act(cast.chair, rid, "close")
    home = converged(cast, rid, "closed")

    heads = {m.city_id: m.call("GET", f"/reviews/{rid}/events")["head_hash"] for m in cast.nodes()}
    assert set(heads.values()) == {home["head_hash"]}, heads
    # The chain links: each header names the previous hash.
    hashes = [e["hash"] for e in home["items"]]
    assert [e["header"]["prev"] for e in home["items"]] == [None, *hashes[:-1]]
    public = cast.gent.node.api("GET", "/api/v1/recommendations?position=noted").json()["items"]
    assert [(r["id"], r["explanation"][:8]) for r in public] == [("bb000002", "District")]
    [supported] = cast.padova.node.api(
        "GET", "/api/v1/recommendations?indicator=" + HOUSING
    ).json()["items"]
    assert supported["cosigned_by"] == ["fr-lyon", "it-padova"]
    assert [f["kind"] for f in supported["follow_up"]] == ["report", "assessment"]
