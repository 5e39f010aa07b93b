"""The peer-review pages on the in-process federation: a secretariat chairs, Gent is reviewed,
Lyon and Padova review. Each person signs in on their own node's pages, with CSRF on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from node.db import session_scope
from node.services import users
from tests.federation.conftest import SECRETARIAT, Node, record
from tests.federation.test_peer_review import THEME, act, publish, sync, token_for, view
from tests.federation.test_secretariat import join
from tests.support import Caller
from tests.web.test_pages import csrf_token, login

PASSWORD = "correct horse battery"
VALUE = "HRC-HOU-01"


def person(node: Node, role: str, name: str) -> Caller:
    """A user of ``node`` who signs in on its pages."""
    email = f"{name}@{node.city_id}.example"
    with session_scope(node.runtime.sessions) as session:
        user = users.create_user(
            session,
            email=email,
            password=PASSWORD,
            role=role,
            now=node.clock(),
            node_role="secretariat" if node.city_id == SECRETARIAT else "city",
        )
        token = users.create_token(session, user, now=node.clock())
    return Caller(email, role, token, PASSWORD)


def staff(node: Node) -> Caller:
    """The user the network fixture made on every node (official, or secretariat staff)."""
    role = "secretariat" if node.city_id == SECRETARIAT else "official"
    return Caller(f"official@{node.city_id}.example", role, node.token, PASSWORD)


def signed_in(node: Node, who: Caller) -> FlaskClient:
    client = node.app.test_client()
    login(client, who)
    return client


def post(
    client: FlaskClient, path: str, data: dict[str, Any], status: int = 302
) -> tuple[Any, str]:
    """POST a page form with the session's CSRF token; returns the response and its HTML."""
    response = client.post(path, data={"csrf_token": csrf_token(client, "/reviews"), **data})
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[-3000:]
    assert response.status_code != 500
    return response, html


def do(client: FlaskClient, rid: str, action: str, status: int = 302, **data: Any) -> str:
    return post(client, f"/reviews/{rid}/actions/{action}", data, status)[1]


def question(object_id: str, text: str = "Why?") -> dict[str, Any]:
    """The fields of a question for the reviewed city (anchor fields come separately)."""
    return {"object_id": object_id, "kind": "question", "text": text, "readers": ["cur"]}


@dataclass
class Cycle:
    secretariat: Node
    gent: Node
    lyon: Node
    padova: Node
    first: str  # Gent's pinned summary

    @property
    def nodes(self) -> tuple[Node, ...]:
        return (self.gent, self.lyon, self.padova, self.secretariat)

    def sync(self) -> None:
        sync(*self.nodes)


@pytest.fixture
def cycle(network: Any) -> Cycle:
    secretariat, gent, lyon, padova = network(SECRETARIAT, "be-gent", "fr-lyon", "it-padova")
    join(secretariat, [gent, lyon, padova])
    record(gent, "2025", {VALUE: "12.5", "HRC-HOU-04": "40"})
    return Cycle(secretariat, gent, lyon, padova, publish(gent, "2025"))


def in_review(c: Cycle) -> str:
    """A review in round 1 with Lyon and Padova accepted, reached through the API."""
    admin = token_for(c.gent, "admin")
    draft = c.gent.api(
        "POST",
        "/reviews",
        {"title": "Housing 2025", "scope": {"themes": [THEME]}, "summaries": [c.first]},
    )
    rid: str = draft.get_json()["id"]
    act(c.gent, rid, "submit", token=admin)
    c.sync()
    act(c.secretariat, rid, "form_panel")
    act(c.secretariat, rid, "invite", {"city": "fr-lyon"})
    act(c.secretariat, rid, "invite", {"city": "it-padova"})
    c.sync()
    act(c.lyon, rid, "accept")
    act(c.padova, rid, "accept")
    c.sync()
    act(c.secretariat, rid, "open_round")
    c.sync()
    return rid


def value_form(html: str) -> dict[str, str]:
    """The hidden anchor fields of the comment form beside the housing value."""
    form = re.search(r'<form[^>]*class="comment-form" id="(k[0-9a-f]+)".*?</form>', html, re.S)
    assert form, "no comment form beside a value"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))
    for name in ("csrf_token", "object_id"):  # the test names its own comment ids
        fields.pop(name)
    return fields


def test_a_review_cycle_through_the_pages(cycle: Cycle) -> None:
    c = cycle
    gent_official = signed_in(c.gent, staff(c.gent))
    listing = gent_official.get("/reviews").get_data(as_text=True)
    assert 'id="draft-form"' in listing and c.first[:12] in listing

    # The focal point prepares the request; the draft stays on Gent.
    response, _html = post(
        gent_official,
        "/reviews",
        {
            "title": "Housing 2025",
            "themes": [THEME],
            "question_1": "Are evictions falling for migrant households?",
            "summaries": [c.first],
            "home": "",
            "min_reviewers": "2",
            "public_outcome": "y",
        },
    )
    rid = response.headers["Location"].rsplit("/", 1)[-1]
    page = gent_official.get(f"/reviews/{rid}").get_data(as_text=True)
    assert "Draft (not sent yet)" in page and "validating authority (an administrator)" in page
    assert "/actions/submit" not in page  # no button the focal point may not use
    # Posting it anyway is refused by the service, readably, with the note kept.
    refused = do(gent_official, rid, "submit", 403, form_key="submit", note="please")
    assert "Only validating_authority may &#39;submit&#39;" in refused and "Not done" in refused

    gent_admin = signed_in(c.gent, person(c.gent, "admin", "mayor"))
    tasks = gent_admin.get("/reviews").get_data(as_text=True)
    assert "Submit the review request" in tasks
    post(gent_admin, f"/reviews/{rid}/actions/submit", {})
    pending = gent_admin.get(f"/reviews/{rid}").get_data(as_text=True)
    assert "sent to the chair" in pending and "on their way to the chair" in pending
    c.sync()
    assert view(c.gent, rid)["state"] == "requested"

    chair = signed_in(c.secretariat, staff(c.secretariat))
    assert "Accept the request and form the panel" in chair.get("/reviews").get_data(as_text=True)
    assert chair.get(f"/reviews/{rid}/chair").status_code == 200
    do(chair, rid, "form_panel", page="chair")
    panel = chair.get(f"/reviews/{rid}/chair").get_data(as_text=True)
    assert '<option value="fr-lyon"' in panel and '<option value="be-gent"' not in panel
    do(chair, rid, "invite", page="chair", city="fr-lyon")
    do(chair, rid, "invite", page="chair", city="it-padova")
    c.sync()

    lyon = signed_in(c.lyon, staff(c.lyon))
    padova = signed_in(c.padova, staff(c.padova))
    invitation = lyon.get("/reviews").get_data(as_text=True)
    # The due date, written the page language's way (issue 15): English here.
    assert "Answer the invitation to review" in invitation and "Mar 15, 2026" in invitation
    do(lyon, rid, "accept")
    do(padova, rid, "accept")
    c.sync()
    do(chair, rid, "open_round", page="chair")
    c.sync()
    assert "Apr 12, 2026" in lyon.get("/reviews").get_data(as_text=True)  # six weeks to review
    extended = {"kind": "review_submission", "city": "fr-lyon", "due": "2026-05-04"}
    do(chair, rid, "extend_deadline", page="chair", **extended)
    c.sync()
    task = re.search(
        r"Submit your review.*?</tr>", lyon.get("/reviews").get_data(as_text=True), re.S
    )
    assert task and "May 4, 2026" in task.group(0)

    # Lyon comments on the value itself; the thread sits beside it on every node.
    workspace = lyon.get(f"/reviews/{rid}").get_data(as_text=True)
    anchor = value_form(workspace)
    assert anchor["summary_sha256"] == c.first and anchor["indicator"] == VALUE
    do(
        lyon,
        rid,
        "comment",
        **anchor,
        object_id="c0ffee01",
        kind="question",
        text="How are evictions counted?",
        readers=["panel", "cur"],
    )
    c.sync()
    gent_page = gent_official.get(f"/reviews/{rid}").get_data(as_text=True)
    row = re.search(rf'<tr data-indicator="{VALUE}".*?</tr>', gent_page, re.S)
    assert (
        row
        and "How are evictions counted?" in row.group(0)
        and 'id="t-c0ffee01" open' in row.group(0)
    )
    do(
        gent_official,
        rid,
        "comment",
        object_id="c0ffee02",
        parent_id="c0ffee01",
        kind="reply",
        text="Court orders executed, per year.",
        readers=["panel", "cur"],
    )
    c.sync()
    do(chair, rid, "widen_readers", comment_id="c0ffee01", readers=["public"])
    widened = chair.get(f"/reviews/{rid}").get_data(as_text=True)
    assert re.search(r"Readers:[^<]*the public \(once adopted\)", widened)
    do(lyon, rid, "resolve", comment_id="c0ffee01")
    c.sync()
    folded = lyon.get(f"/reviews/{rid}").get_data(as_text=True)
    assert 'class="thread resolved" id="t-c0ffee01">' in folded  # folded: no "open"
    assert "Court orders executed, per year." in folded

    do(lyon, rid, "submit_review", verdict="concerns", summary="Needs a prevention plan.")
    do(padova, rid, "submit_review", verdict="endorsed", summary="Fine.", endorsed_hash=c.first)
    c.sync()

    do(
        lyon,
        rid,
        "draft_recommendation",
        object_id="4ec0001a",
        text="Adopt an eviction-prevention protocol.",
        lead_verb="adopt",
        action_level="5",
        themes=[THEME],
        indicators="HRC-HOU-01",
        affected_groups="migrants",
        sdg_targets="11.1",
        issuing_cities=["fr-lyon", "it-padova"],
    )
    c.sync()
    waiting = padova.get("/reviews").get_data(as_text=True)
    assert "Co-sign a recommendation" in waiting
    rec = view(c.padova, rid)["recommendations"][0]
    signed = padova.get(f"/reviews/{rid}").get_data(as_text=True)
    assert rec["content_sha256"][:12] in signed and "not yet co-signed" in signed
    do(
        padova,
        rid,
        "cosign_recommendation",
        object_id=rec["id"],
        content_sha256=rec["content_sha256"],
    )
    c.sync()
    assert "not yet co-signed" not in lyon.get(f"/reviews/{rid}").get_data(as_text=True)

    do(chair, rid, "acknowledge", page="chair", city="fr-lyon")
    for step in ("close_round", "start_factual_check", "issue"):
        do(chair, rid, step, page="chair")
    c.sync()
    panel = chair.get(f"/reviews/{rid}/chair").get_data(as_text=True)
    assert "Acknowledged" in panel and "Needs a prevention plan." in panel

    # The response: "noted" needs an explanation; the page says so and keeps what was chosen.
    assert "Answer the recommendations" in gent_admin.get("/reviews").get_data(as_text=True)
    _r, error = post(gent_admin, f"/reviews/{rid}/respond", {"position-4ec0001a": "noted"}, 422)
    assert "A &#39;noted&#39; position needs an explanation." in error
    assert 'value="noted" checked' in error and 'class="has-error"' in error
    post(
        gent_admin,
        f"/reviews/{rid}/respond",
        {"position-4ec0001a": "noted", "explanation-4ec0001a": "A protocol exists since 2024."},
    )
    c.sync()
    do(chair, rid, "adopt", page="chair")
    c.sync()

    tracker = gent_admin.get(f"/reviews/{rid}/follow-up").get_data(as_text=True)
    assert 'id="report_follow_up-form"' in tracker and 'id="assess-form"' not in tracker
    post(
        gent_admin,
        f"/reviews/{rid}/follow-up",
        {
            "action": "report_follow_up",
            "status-4ec0001a": "in_progress",
            "note-4ec0001a": "Protocol revised with the housing department.",
            "evidence-4ec0001a": [c.first],
        },
    )
    c.sync()
    post(
        lyon,
        f"/reviews/{rid}/follow-up",
        {"action": "assess", "status-4ec0001a": "in_progress", "note-4ec0001a": "Agreed."},
    )
    c.sync()
    do(chair, rid, "close", page="chair")
    c.sync()
    assert {view(n, rid)["head_hash"] for n in c.nodes} == {view(c.gent, rid)["head_hash"]}
    tracker = padova.get(f"/reviews/{rid}/follow-up").get_data(as_text=True)
    assert "Protocol revised with the housing department." in tracker
    assert "<strong>fr-lyon</strong>" in tracker and "Agreed." in tracker

    public = c.lyon.app.test_client()
    outcomes = public.get("/recommendations?position=noted&theme=" + THEME)
    text = outcomes.get_data(as_text=True)
    assert outcomes.status_code == 200 and "Adopt an eviction-prevention protocol." in text
    assert "A protocol exists since 2024." in text and "In progress" in text
    none = public.get("/recommendations?position=supported").get_data(as_text=True)
    assert "No adopted recommendation matches." in none


def test_pages_need_sign_in_and_a_role(cycle: Cycle) -> None:
    c = cycle
    rid = in_review(c)
    anonymous = c.gent.app.test_client()
    for path in ("/reviews", f"/reviews/{rid}", f"/reviews/{rid}/respond", f"/reviews/{rid}/chair"):
        response = anonymous.get(path)
        assert response.status_code == 302 and "/login" in response.location, path
    assert anonymous.get("/recommendations").status_code == 200

    viewer = signed_in(c.gent, person(c.gent, "viewer", "viewer"))
    assert "You take part in no review yet." in viewer.get("/reviews").get_data(as_text=True)
    assert 'id="draft-form"' not in viewer.get("/reviews").get_data(as_text=True)
    missing = viewer.get(f"/reviews/{rid}")
    assert missing.status_code == 404 and "No review" in missing.get_data(as_text=True)
    do(viewer, rid, "comment", 404, object_id="c0ffee09", kind="question", text="x")
    assert viewer.get("/reviews/nonexistent").status_code == 404

    lyon = signed_in(c.lyon, staff(c.lyon))
    assert lyon.get(f"/reviews/{rid}/chair").status_code == 403
    assert lyon.get(f"/reviews/{rid}/respond").status_code == 403
    # A chair's move posted by a reviewer: the table's refusal, readable, with a 403.
    refused = do(lyon, rid, "close_round", 403, note="done?")
    assert "Only chair may &#39;close_round&#39;" in refused
    assert view(c.secretariat, rid)["state"] == "in_review"

    # Civil-society partners of the reviewed city add stakeholder input only.
    observer = signed_in(c.gent, person(c.gent, "cso_partner", "cso"))
    html = observer.get(f"/reviews/{rid}").get_data(as_text=True)
    kinds = re.search(r'<select id="k[0-9a-f]+-kind" name="kind">(.*?)</select>', html, re.S)
    assert kinds and re.findall(r'value="(\w+)"', kinds.group(1)) == ["stakeholder_input"]


def test_forms_need_the_csrf_token(cycle: Cycle) -> None:
    c = cycle
    rid = in_review(c)
    lyon = signed_in(c.lyon, staff(c.lyon))
    data = {"object_id": "c0ffee01", "kind": "question", "text": "Hi", "readers": ["panel"]}
    forged = lyon.post(f"/reviews/{rid}/actions/comment", data={**data, "section": "method"})
    assert forged.status_code == 400 and "expired" in forged.get_data(as_text=True)
    forged = lyon.post(f"/reviews/{rid}/respond", data={})
    assert forged.status_code == 400
    assert c.gent.app.test_client().post("/reviews", data={"title": "x"}).status_code == 400
    assert view(c.lyon, rid)["comments"] == []


def test_refusals_keep_what_was_typed(cycle: Cycle) -> None:
    c = cycle
    rid = in_review(c)
    lyon = signed_in(c.lyon, staff(c.lyon))
    # An endorsement must name the version it endorses (the schema's rule, shown on the form).
    html = do(
        lyon,
        rid,
        "submit_review",
        422,
        form_key="submit_review",
        verdict="endorsed",
        summary="Solid figures.",
        endorsed_hash="",
    )
    assert "An endorsement names the summary hash it endorses." in html
    assert "Solid figures." in html and '<option selected value="endorsed">' in html
    # The author's city must be among the issuers: refused by the service, text kept.
    html = do(
        lyon,
        rid,
        "draft_recommendation",
        422,
        form_key="draft_recommendation",
        object_id="4ec0001a",
        text="Publish eviction data by district.",
        lead_verb="publish",
        action_level="4",
        issuing_cities=["it-padova"],
    )
    assert "the author&#39;s among them" in html
    assert "Publish eviction data by district." in html
    assert '<details class="add-comment" open><summary>Draft a recommendation' in html
    # A comment without text stays in its open form beside the value, with the field's error.
    anchor = value_form(lyon.get(f"/reviews/{rid}").get_data(as_text=True))
    html = do(lyon, rid, "comment", 422, **anchor, **question("c0ffee07", ""))
    assert "This field is required." in html and f'id="{anchor["form_key"]}"' in html
    assert view(c.lyon, rid)["recommendations"] == [] and view(c.lyon, rid)["comments"] == []

    # The city withdraws its request from the workspace; every node ends the review.
    gent_admin = signed_in(c.gent, person(c.gent, "admin", "mayor"))
    do(gent_admin, rid, "withdraw", note="We will come back after the census.")
    c.sync()
    ended = lyon.get(f"/reviews/{rid}").get_data(as_text=True)
    assert "Withdrawn" in ended and "/actions/" not in ended  # nothing left to do


def test_odd_input_never_breaks_a_page(cycle: Cycle) -> None:
    c = cycle
    rid = in_review(c)
    chair = signed_in(c.secretariat, staff(c.secretariat))
    assert do(chair, rid, "nonsense", 404)
    html = do(chair, rid, "extend_deadline", 422, page="chair", kind="response", due="soon")
    assert "Not a valid date value." in html and "Chair's panel" in html
    # Each node moves the deadlines it keeps; the extension itself is recorded for all.
    do(chair, rid, "extend_deadline", page="chair", kind="response", due="2026-06-30")
    bad_anchor = {"summary_sha256": c.first, "indicator": VALUE, "period": "2025"}
    html = do(
        chair, rid, "comment", 422, **bad_anchor, **question("c0ffee05"), disaggregation="{no"
    )
    assert "The breakdown of this value is not readable." in html
    html = do(chair, rid, "comment", 422, **bad_anchor, **question("nothex!"))
    assert "The &#39;comment&#39; data is not valid." in html and "String does not match" in html
    assert post(chair, f"/reviews/{rid}/follow-up", {"action": "drop"}, 400)
    public = c.secretariat.app.test_client()
    bad = public.get("/recommendations?status=bogus&position=maybe")
    assert bad.status_code == 422 and "These filters are not valid" in bad.get_data(as_text=True)
    gent_admin = signed_in(c.gent, person(c.gent, "admin", "mayor"))
    assert "No recommendation has reached" in gent_admin.get(f"/reviews/{rid}/respond").get_data(
        as_text=True
    )
    html = post(gent_admin, f"/reviews/{rid}/respond", {"position-x": "noted"}, 422)[1]
    assert "Choose supported or noted for every recommendation." in html

    # The secretariat may cancel at any stage, from the chair's panel.
    assert "Cancel the review" in chair.get(f"/reviews/{rid}/chair").get_data(as_text=True)
    do(chair, rid, "cancel", page="chair", note="The city left the network.")
    c.sync()
    assert view(c.gent, rid)["state"] == "cancelled"
    assert "No step of the review is open" in chair.get(f"/reviews/{rid}/chair").get_data(
        as_text=True
    )


def test_threads_carry_forward_to_a_revision(cycle: Cycle) -> None:
    c = cycle
    rid = in_review(c)
    for cid, code, text in (
        ("c0ffee01", VALUE, "Rate is high."),
        ("c0ffee02", "HRC-HOU-04", "Count method?"),
    ):
        anchor = {"summary_sha256": c.first, "indicator": code, "period": "2025"}
        data = {"id": cid, "kind": "concern", "anchor": anchor}
        act(c.lyon, rid, "comment", {**data, "text": text, "readers": ["panel", "cur"]})
    act(c.lyon, rid, "submit_review", {"verdict": "concerns", "summary": "Check the rate."})
    act(c.padova, rid, "submit_review", {"verdict": "endorsed", "summary": "Fine.",
                                         "endorsed_hash": c.first})  # fmt: skip
    c.sync()
    act(c.secretariat, rid, "close_round")
    act(c.secretariat, rid, "request_revision")
    c.sync()
    # Gent corrects one figure (the other stays), publishes, and pins the revision on the page.
    record(c.gent, "2025", {VALUE: "11.0"})
    second = publish(c.gent, "2025")
    gent_admin = signed_in(c.gent, person(c.gent, "admin", "mayor"))
    page = gent_admin.get(f"/reviews/{rid}").get_data(as_text=True)
    assert 'id="submit_revision"' in page and second[:12] in page
    do(gent_admin, rid, "submit_revision", summaries=[second], note="Corrected count.")
    c.sync()

    html = signed_in(c.lyon, staff(c.lyon)).get(f"/reviews/{rid}").get_data(as_text=True)
    assert "Period 2025, revision 2" in html and "Earlier versions" in html
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(r'<tr data-indicator="([\w-]+)".*?</tr>', html, re.S)
    }
    changed, unchanged = rows[VALUE], rows["HRC-HOU-04"]
    assert "11.0" in changed and "Rate is high." in changed and "from revision 1" in changed
    assert '<span class="badge outdated">outdated</span>' in changed
    assert "Count method?" in unchanged and "from revision 1" in unchanged
    assert "badge outdated" not in unchanged
