"""The secretariat staff's pages (issue 15): members and applications, the directory, catalogue
releases (a diff by hand on a small catalogue, then publish), benchmarks by region and indicator,
the overdue report. Roles are checked on the server; a refusal writes nothing.

Run on the in-process federation (real nodes, real SQLite, one router): the pages act through
the same services as the API, and the envelopes they queue are the real ones.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from node.db import session_scope
from node.network.models import OutEnvelope, Peer
from node.secretariat.models import CatalogueRelease
from schemas.secretariat import DIRECTORY_TYPE
from tests.federation.conftest import SECRETARIAT, Node, record
from tests.federation.test_secretariat import join
from tests.fingerprint_support import shows_fingerprint

STAFF_PAGES = (
    "/secretariat/members",
    "/secretariat/directory",
    "/secretariat/releases",
    "/secretariat/benchmarks",
    "/secretariat/overdue",
)


def _add_user(node: Node, email: str, role: str) -> None:
    from node.services import users

    with session_scope(node.runtime.sessions) as session:
        users.create_user(
            session,
            email=email,
            password="correct horse battery",
            role=role,
            now=node.clock(),
            node_role=node.runtime.config.role,
        )


def _web(node: Node, email: str | None = None) -> Any:
    """A browser session on ``node`` (CSRF on), signed in as ``email`` (default: the node's
    first user: on the secretariat its staff, role ``secretariat``)."""
    from tests.web.test_pages import csrf_token

    node.app.config["WTF_CSRF_ENABLED"] = True
    web = node.app.test_client()
    token = csrf_token(web, "/login")
    response = web.post(
        "/login",
        data={
            "email": email or f"official@{node.city_id}.example",
            "password": "correct horse battery",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return web


def _token(html: str, name: str = "csrf_token") -> str:
    match = re.search(rf'name="{re.escape(name)}" type="hidden" value="([^"]+)"', html)
    assert match, f"no {name} on the page"
    return match.group(1)


def _apply(secretariat: Node, cities: list[Node]) -> None:
    """The cities ask to join (twinning requests to the secretariat), not yet answered."""
    for city in cities:
        assert city.request_twin({"url": secretariat.base_url})["state"] == "requested"
        city.deliver()


def _written(secretariat: Node) -> tuple[int, list[tuple[str, str, str | None]]]:
    """What a refusal must leave untouched: the signed envelopes and the roster."""
    with session_scope(secretariat.runtime.sessions) as session:
        envelopes = session.scalar(select(func.count()).select_from(OutEnvelope)) or 0
        roster = [
            (p.city_id, p.state, p.note)
            for p in session.scalars(select(Peer).order_by(Peer.city_id))
        ]
    return envelopes, roster


# --- members and applications -----------------------------------------------------------------


def test_staff_admit_an_application_with_a_region(network) -> None:
    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    _apply(secretariat, [gent, lyon])
    web = _web(secretariat)
    page = web.get("/secretariat/members")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="applications"' in html and 'data-city="be-gent"' in html
    # The applicant's key is shown as people read it to each other, so staff can check it.
    assert shows_fingerprint(html, gent.key.public_raw)
    before, _ = _written(secretariat)
    done = web.post(
        "/secretariat/members/be-gent/admit",
        data={
            "admit-be-gent-csrf_token": _token(html, "admit-be-gent-csrf_token"),
            "admit-be-gent-region": "flanders",
        },
    )
    assert done.status_code == 302
    after, roster = _written(secretariat)
    assert ("be-gent", "active", None) in roster and ("fr-lyon", "pending", None) in roster
    with session_scope(secretariat.runtime.sessions) as session:
        assert session.get(Peer, "be-gent").region == "flanders"
        kinds = [e.type for e in session.scalars(select(OutEnvelope).order_by(OutEnvelope.seq))]
    # Admission answers the application and signs a new directory for the members.
    assert after > before and kinds[-1] == DIRECTORY_TYPE
    listed = web.get("/secretariat/members").get_data(as_text=True)
    assert re.search(r'data-city="be-gent" data-state="active"', listed)


def test_declining_needs_a_reason_and_a_refusal_writes_nothing(network) -> None:
    secretariat, gent = network(SECRETARIAT, "be-gent")
    _apply(secretariat, [gent])
    web = _web(secretariat)
    html = web.get("/secretariat/members").get_data(as_text=True)
    token = _token(html, "decline-be-gent-csrf_token")
    before = _written(secretariat)
    # Empty, blank, shorter than 3 characters (the edge: 2), and 2 once stripped.
    for reason in ("", "  ", "no", "  no  "):
        refused = web.post(
            "/secretariat/members/be-gent/decline",
            data={"decline-be-gent-csrf_token": token, "decline-be-gent-reason": reason},
        )
        assert refused.status_code == 422
        page = refused.get_data(as_text=True)
        # The error is tied to the reason field (aria-invalid, described by the message).
        field = re.search(r"<textarea[^>]*id=\"decline-be-gent-reason\"[^>]*>", page)
        assert field and 'aria-invalid="true"' in field.group(0)
        assert 'aria-describedby="decline-be-gent-reason-error"' in field.group(0)
        assert _written(secretariat) == before
    reason = "dup"  # exactly 3 characters: the shortest reason accepted (a duplicate application)
    done = web.post(
        "/secretariat/members/be-gent/decline",
        data={"decline-be-gent-csrf_token": token, "decline-be-gent-reason": reason},
    )
    assert done.status_code == 302
    envelopes, roster = _written(secretariat)
    assert ("be-gent", "declined", reason) in roster
    with session_scope(secretariat.runtime.sessions) as session:
        kinds = [e.type for e in session.scalars(select(OutEnvelope))]
    assert DIRECTORY_TYPE not in kinds  # the roster did not change: no new directory
    assert f"Reason: {reason}" in web.get("/secretariat/members").get_data(as_text=True)
    # The city hears the answer like any declined twinning.
    secretariat.deliver()
    states = {p["city_id"]: p["state"] for p in gent.api("GET", "/peers").get_json()["items"]}
    assert states[SECRETARIAT] == "declined"


def test_suspend_with_a_reason_then_reinstate(network) -> None:
    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    web = _web(secretariat)
    html = web.get("/secretariat/members").get_data(as_text=True)
    token = _token(html, "suspend-be-gent-csrf_token")
    before = _written(secretariat)
    refused = web.post(
        "/secretariat/members/be-gent/suspend", data={"suspend-be-gent-csrf_token": token}
    )
    assert refused.status_code == 422 and _written(secretariat) == before
    done = web.post(
        "/secretariat/members/be-gent/suspend",
        data={"suspend-be-gent-csrf_token": token, "suspend-be-gent-reason": "Unpaid dues 2026"},
    )
    assert done.status_code == 302
    assert ("be-gent", "suspended", "Unpaid dues 2026") in _written(secretariat)[1]
    html = web.get("/secretariat/members").get_data(as_text=True)
    assert "Unpaid dues 2026" in html
    back = web.post(
        "/secretariat/members/be-gent/reinstate",
        data={"reinstate-be-gent-csrf_token": _token(html, "reinstate-be-gent-csrf_token")},
    )
    assert back.status_code == 302
    # Reinstated: the suspension's reason no longer stands beside the member.
    assert _written(secretariat)[1][0] == ("be-gent", "active", None)


def test_an_action_the_state_does_not_allow_is_refused_and_writes_nothing(network) -> None:
    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    web = _web(secretariat)
    html = web.get("/secretariat/members").get_data(as_text=True)
    before = _written(secretariat)
    # Any valid token of this session will do: the form is re-created with the posted prefix.
    token = _token(html, "suspend-be-gent-csrf_token")
    refused = web.post(
        "/secretariat/members/be-gent/decline",
        data={"decline-be-gent-csrf_token": token, "decline-be-gent-reason": "changed my mind"},
    )
    assert refused.status_code == 409  # be-gent is a member, not an application
    assert "cannot decline" in refused.get_data(as_text=True)
    assert _written(secretariat) == before


@pytest.mark.parametrize("role", ["official", "viewer", "data_collector"])
def test_staff_pages_refuse_other_roles_and_write_nothing(network, role: str) -> None:
    secretariat, gent = network(SECRETARIAT, "be-gent")
    _apply(secretariat, [gent])
    _add_user(secretariat, f"{role}@secretariat.example", role)
    web = _web(secretariat, f"{role}@secretariat.example")
    for path in STAFF_PAGES:
        assert web.get(path).status_code == 403, path
    assert "/secretariat/members" not in web.get("/").get_data(as_text=True)  # not in the menu
    from tests.web.test_pages import csrf_token

    token = csrf_token(web, "/password")
    before = _written(secretariat)
    for action, field in (("admit", "region"), ("decline", "reason")):
        refused = web.post(
            f"/secretariat/members/be-gent/{action}",
            data={f"{action}-be-gent-csrf_token": token, f"{action}-be-gent-{field}": "europe"},
        )
        assert refused.status_code == 403
    assert web.post("/secretariat/releases/preview", data={"csrf_token": token}).status_code == 403
    assert _written(secretariat) == before


def test_staff_pages_do_not_exist_on_a_city_node_or_for_strangers(network) -> None:
    secretariat, gent = network(SECRETARIAT, "be-gent")
    web = _web(gent)
    for path in STAFF_PAGES:
        assert web.get(path).status_code == 404, path
    stranger = secretariat.app.test_client()
    for path in STAFF_PAGES:
        answer = stranger.get(path)
        assert answer.status_code == 302 and "/login" in answer.headers["Location"], path


# --- directory --------------------------------------------------------------------------------


def test_directory_lists_members_keys_fingerprints_and_when_notarised(network) -> None:
    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    join(secretariat, [gent, lyon])
    html = _web(secretariat).get("/secretariat/directory").get_data(as_text=True)
    for city in (gent, lyon):
        assert f'data-city="{city.city_id}"' in html
        assert f'data-key="{city.key.key_id}"' in html
        assert shows_fingerprint(html, city.key.public_raw)
    # Notarised = when the first signed directory listing the key was made: the test clock
    # stands still, so that is its time, to the minute.
    stamp = secretariat.clock().strftime("%H:%M")
    assert html.count("Notarised (first signed in the directory) on") == 2 and stamp in html


# --- catalogue releases -----------------------------------------------------------------------


def _small_catalogue(shared_dir: Any, version: str) -> dict[str, Any]:
    document = json.loads((shared_dir / "data" / "indicator_catalogue.json").read_text())
    document["version"] = version
    document["indicators"] = [
        i for i in document["indicators"] if i["code"] in ("HRC-HOU-01", "HRC-HOU-02", "HRC-EDU-01")
    ]
    assert len(document["indicators"]) == 3
    return document


def _releases(secretariat: Node) -> list[str]:
    with session_scope(secretariat.runtime.sessions) as session:
        return sorted(r.version for r in session.scalars(select(CatalogueRelease)))


def test_a_draft_is_compared_field_by_field_then_published(network, shared_dir) -> None:
    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    base = _small_catalogue(shared_dir, "0.2.0")
    published = secretariat.api("POST", "/catalogue/releases", {"document": base})
    assert published.status_code == 201, published.get_json()

    draft = copy.deepcopy(base)
    draft["version"] = "0.3.0"
    by_code = {i["code"]: i for i in draft["indicators"]}
    old_name = by_code["HRC-HOU-02"]["name"]
    old_unit = by_code["HRC-HOU-02"]["unit"]
    by_code["HRC-HOU-02"]["name"] = "Evictions without alternative accommodation"
    by_code["HRC-HOU-02"]["unit"] = {"code": "COUNT", "label": "households"}
    draft["indicators"].remove(by_code["HRC-EDU-01"])
    draft["indicators"].append(dict(by_code["HRC-HOU-01"], code="HRC-HOU-09", name="Housing first"))
    # By hand: HRC-HOU-09 added, HRC-EDU-01 retired, HRC-HOU-02 changed in name and unit only,
    # HRC-HOU-01 unchanged.

    web = _web(secretariat)
    html = web.get("/secretariat/releases").get_data(as_text=True)
    envelopes_before = _written(secretariat)[0]
    preview = web.post(
        "/secretariat/releases/preview",
        data={"csrf_token": _token(html), "text": json.dumps(draft)},
    )
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200, page[:500]
    assert "Compared with release 0.2.0, the last one published." in page
    assert re.findall(r'<ul id="added"><li><strong>([^<]+)</strong>', page) == ["HRC-HOU-09"]
    assert re.findall(r'<ul id="retired"><li><strong>([^<]+)</strong>', page) == ["HRC-EDU-01"]
    assert re.findall(r'data-code="([^"]+)" data-field="([^"]+)"', page) == [
        ("HRC-HOU-02", "name"),
        ("HRC-HOU-02", "unit"),
    ]
    assert old_name in page and "Evictions without alternative accommodation" in page
    assert json.dumps(old_unit, sort_keys=True).replace('"', "&#34;") in page
    assert "1 added, 1 changed, 1 retired." in page
    # Comparing writes nothing.
    assert _releases(secretariat) == ["0.2.0"] and _written(secretariat)[0] == envelopes_before

    form = dict(
        re.findall(
            r'<input id="(document|base_version)" name="\1" type="hidden" value="([^"]*)"', page
        )
    )
    assert form["base_version"] == "0.2.0"
    import html as html_lib

    done = web.post(
        "/secretariat/releases/publish",
        data={
            "csrf_token": _token(page),
            "document": html_lib.unescape(form["document"]),
            "base_version": "0.2.0",
            "notes": "one new, one renamed, one retired",
        },
    )
    assert done.status_code == 302, done.get_data(as_text=True)[:500]
    assert _releases(secretariat) == ["0.2.0", "0.3.0"]
    secretariat.deliver()
    versions = [r["version"] for r in gent.api("GET", "/catalogue/releases").get_json()["items"]]
    assert "0.3.0" in versions


def test_publishing_is_refused_when_a_release_came_out_since_the_comparison(
    network, shared_dir
) -> None:
    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    assert (
        secretariat.api(
            "POST", "/catalogue/releases", {"document": _small_catalogue(shared_dir, "0.2.0")}
        ).status_code
        == 201
    )
    web = _web(secretariat)
    token = _token(web.get("/secretariat/releases").get_data(as_text=True))
    draft = _small_catalogue(shared_dir, "0.4.0")
    # Someone else publishes 0.3.0 after this person compared 0.4.0 with 0.2.0.
    assert (
        secretariat.api(
            "POST", "/catalogue/releases", {"document": _small_catalogue(shared_dir, "0.3.0")}
        ).status_code
        == 201
    )
    before = _written(secretariat)
    refused = web.post(
        "/secretariat/releases/publish",
        data={"csrf_token": token, "document": json.dumps(draft), "base_version": "0.2.0"},
    )
    assert refused.status_code == 409
    assert "Release 0.3.0 was published since you compared" in refused.get_data(as_text=True)
    assert _releases(secretariat) == ["0.2.0", "0.3.0"] and _written(secretariat) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "The draft is not JSON"),
        ("[1, 2]", "A catalogue is a JSON object."),
        ('{"version": "9.9.9"}', "The catalogue does not have the expected shape."),
        ("", "Choose a catalogue file or paste one."),
    ],
)
def test_a_malformed_draft_is_refused_beside_its_field(network, text: str, message: str) -> None:
    (secretariat,) = network(SECRETARIAT)
    web = _web(secretariat)
    token = _token(web.get("/secretariat/releases").get_data(as_text=True))
    before = _written(secretariat)
    refused = web.post("/secretariat/releases/preview", data={"csrf_token": token, "text": text})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and message in page
    field = re.search(r'<textarea[^>]*id="text"[^>]*>', page)
    assert field and 'aria-invalid="true"' in field.group(0)
    assert _written(secretariat) == before and _releases(secretariat) == []


# --- benchmarks and the overdue report ----------------------------------------------------------

CITY_IDS = ("be-gent", "fr-lyon", "nl-utrecht", "it-padova", "es-madrid")


def test_benchmarks_by_region_and_indicator(network) -> None:
    secretariat, *cities = network(SECRETARIAT, *CITY_IDS)
    join(secretariat, cities)
    for value, city in zip(("12.5", "20", "7.25", "15", "30"), cities, strict=True):
        record(city, "2025", {"HRC-HOU-01": value})
        city.api("POST", "/summaries", {"period": "2025"})
        city.deliver()
    web = _web(secretariat)
    everything = web.get("/secretariat/benchmarks").get_data(as_text=True)
    assert 'data-indicator="HRC-HOU-01" data-scope="network"' in everything
    # Regions of fewer than five cities are never published: filtering on one finds nothing.
    region = web.get("/secretariat/benchmarks?region=europe-west").get_data(as_text=True)
    assert "data-scope=" not in region and "No published benchmark matches." in region
    network_only = web.get("/secretariat/benchmarks?region=network&indicator=HRC-HOU-01")
    rows = re.findall(
        r'<tr data-indicator="([^"]+)" data-scope="([^"]+)">', network_only.get_data(as_text=True)
    )
    assert rows == [("HRC-HOU-01", "network")]
    other = web.get("/secretariat/benchmarks?indicator=HRC-EDU-01").get_data(as_text=True)
    assert "data-scope=" not in other
    # A member's own benchmark page filters by region too.
    from node.jobs import publish_benchmarks

    publish_benchmarks(secretariat.runtime)
    secretariat.deliver()
    city = cities[0].app.test_client()
    shown = city.get("/benchmarks?region=network").get_data(as_text=True)
    assert 'href="/benchmarks/HRC-HOU-01"' in shown
    hidden = city.get("/benchmarks?region=europe-west").get_data(as_text=True)
    assert 'href="/benchmarks/HRC-HOU-01"' not in hidden


def test_overdue_report_at_the_edges_of_due_dates_and_missing_submissions(network) -> None:
    from peer_review import deadlines

    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    join(secretariat, [gent, lyon])
    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    gent.api("POST", "/summaries", {"period": "2025"})
    gent.deliver()
    now = secretariat.clock()
    with session_scope(secretariat.runtime.sessions) as session:
        for subject, due in (
            ("review:1", now - timedelta(days=3)),  # overdue by 3 days
            ("review:2", now - timedelta(seconds=1)),  # just overdue
            ("review:3", now),  # due now: not late yet
            ("mentoring:7", now + timedelta(days=1)),  # not due
            ("mentoring:8", now - timedelta(days=40)),
        ):
            deadlines.arm(
                session,
                subject=subject,
                kind="review_submission" if subject.startswith("review") else "mentoring_answer",
                due_at=due,
                now=now - timedelta(days=60),
                title=f"Task {subject}",
                link=f"/{subject.replace(':', '/')}",
            )
        deadlines.met(session, "review:1", "review_submission", now)  # done: not overdue
        deadlines.arm(
            session,
            subject="review:4",
            kind="response",
            due_at=now - timedelta(days=10),
            now=now - timedelta(days=60),
            title="Task review:4",
            link="/reviews/4",
        )
    html = _web(secretariat).get("/secretariat/overdue").get_data(as_text=True)
    reviews = re.findall(r'data-subject="(review:\d+)"', html)
    mentoring = re.findall(r'data-subject="(mentoring:\d+)"', html)
    assert reviews == ["review:4", "review:2"]  # oldest due date first
    assert mentoring == ["mentoring:8"]
    assert "Latest period a member sent figures for: 2025." in html
    assert re.findall(r'<tr data-city="([^"]+)">', html) == ["fr-lyon"]


def test_the_latest_period_is_the_latest_in_time_not_in_spelling(network) -> None:
    """2025-07 (a month) comes after 2025-Q1 though "2025-Q1" sorts after "2025-07" as text."""
    from node.secretariat.models import BenchmarkInput

    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    join(secretariat, [gent, lyon])
    with session_scope(secretariat.runtime.sessions) as session:
        for city, period in (("be-gent", "2025-07"), ("fr-lyon", "2025-Q1")):
            session.add(
                BenchmarkInput(
                    city_id=city,
                    indicator="HRC-HOU-01",
                    period=period,
                    revision=1,
                    value_text="1",
                    value=1.0,
                    catalogue_version="0.1.0",
                    envelope_sha256=f"{city}-{period}".ljust(64, "0"),
                )
            )
    html = _web(secretariat).get("/secretariat/overdue").get_data(as_text=True)
    assert "Latest period a member sent figures for: 2025-07." in html
    assert re.findall(r'<tr data-city="([^"]+)">', html) == ["fr-lyon"]
    assert "<td>2025-Q1</td>" in html  # the last period Lyon did send
