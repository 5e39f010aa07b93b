"""Issue 15's whole scenario across two twinned cities, in headless Chromium, real processes.

Three ``hrcnet serve`` processes on 127.0.0.1 (tests/multinode/harness.py): the network's
secretariat, Gent (city A) and Lyon (city B), which joined it and twinned with each other.
Their schedulers are off (``NODE_SCHEDULER=false``): the test drives delivery itself with the
same job functions ``hrcnet sync`` runs (discovery, key fetches, outbox delivery), each wait
bounded, so nothing depends on sleeping for a scheduler tick.

1. Gent's official enters a figure, publishes it through the preview of what will be signed,
   corrects it with a reason (told which signed summary it affects) and publishes again.
2. Lyon's official sees THAT corrected value (revision 2) in the twin comparison.
3. A peer review of Gent's figures, chaired by the secretariat, with Lyon on the panel: Lyon's
   reviewer comments on the value in the workspace; the comment comes back from the chair's
   node beside the value and reaches Gent.
4. Gent's public page shows the published result with its chart: the SVG's description and the
   data table beside it both hold the value.

Then, in the same processes (no second network: CI time), axe-core on the pages that need a
second node (``network_support.NETWORK_PAGES``: a twin's page, the review's workspace, chair,
respond and follow-up pages, the mentoring relationship, action plan, agreement and closure
report), in the six languages at 1280 px and 390 px, no horizontal scroll. Screenshots under
``test-artifacts/scenario/`` and ``test-artifacts/a11y/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from node.config import load_config
from node.db import session_scope
from node.i18n import SUPPORTED_LOCALES
from node.jobs import node_runtime
from node.network import keyfetch, outbox, peers
from node.runtime import NodeRuntime, utcnow
from node.services import users
from tests.browser.network_support import CHAIR_PAGES, CITY_PAGES, NETWORK_PAGES
from tests.browser.test_accessibility import AXE, Audit, _audit_page
from tests.multinode.harness import Member, NodeProcess, NodeUser, stop_all, wait_until

# One network for both tests: under ``--dist loadgroup`` xdist keeps them on one worker (with the
# default ``load`` they are usually sent together; split, the audit builds its own stage).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.multinode,
    pytest.mark.xdist_group("network-scenario"),
]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "scenario"

SECRETARIAT = "hrc-secretariat"
INDICATOR = "HRC-HOU-01"  # evictions; a core indicator of the theme under review
THEME = "Adequate housing"
FIRST, CORRECTED = "12.5", "11.8"
REASON = "Recount of the eviction register"
COMMENT = "Why did the 2025 figure fall after the recount?"
PASSWORD = "a long scenario passphrase"
SETTLE_S = 60.0  # generous: three nodes and a browser share two busy cores


@dataclass
class City:
    """A node of the scenario, its users (for the browser) and API clients (for the setup)."""

    node: NodeProcess
    users: dict[str, NodeUser]
    runtime: NodeRuntime | None = None

    def client(self, role: str) -> Member:
        return Member(self.node, self.users[role].token)


@dataclass
class Network:
    secretariat: City
    gent: City
    lyon: City
    ids: dict[str, str] = field(default_factory=dict)

    def cities(self) -> list[City]:
        return [self.secretariat, self.gent, self.lyon]

    def pump(self) -> None:
        """One run of the federation jobs on every node (what ``hrcnet sync`` runs)."""
        for city in self.cities():
            assert city.runtime is not None
            peers.run_discoveries(city.runtime)
            keyfetch.run_key_fetches(city.runtime)
            outbox.deliver_outbox(city.runtime, ignore_backoff=True)

    def settle(self, what: str, probe: Callable[[], Any]) -> Any:
        """Deliver until ``probe`` holds (bounded; the nodes' logs attached on failure)."""

        def delivered() -> Any:
            self.pump()
            return probe()

        watch = [c.client(next(iter(c.users))) for c in self.cities()]
        return wait_until(what, delivered, *watch, timeout=SETTLE_S)


def _add_users(node: NodeProcess, roles: dict[str, str]) -> dict[str, NodeUser]:
    """Users (role -> e-mail) with passwords and API tokens, written before the node starts.

    The same service calls as ``hrcnet user add`` + ``token create`` (covered by the CLI tests),
    without two interpreter start-ups per user on a busy machine.
    """
    config = load_config(node.data_dir, environ=node.env())
    runtime = node_runtime(config)
    made: dict[str, NodeUser] = {}
    try:
        with session_scope(runtime.sessions) as session:
            for role, email in roles.items():
                user = users.create_user(
                    session, email=email, password=PASSWORD, role=role, now=utcnow(),
                    node_role=config.role,
                )  # fmt: skip
                token = users.create_token(session, user, now=utcnow())
                made[role] = NodeUser(email, role, PASSWORD, token)
    finally:
        runtime.engine.dispose()
    return made


def _start(base: Path) -> Network:
    # Schedulers off: delivery happens when the test pumps it, never on a timer.
    quiet = {"NODE_SCHEDULER": "false"}

    def make(city_id: str, name: str, country: str, role: str, roles: dict[str, str]) -> City:
        node = NodeProcess(
            city_id, base / city_id, name=name, country=country, role=role,
            region="europe" if role == "secretariat" else "europe-west", extra_env=quiet,
        )  # fmt: skip
        city = City(node, {})
        made.append(city)  # registered before init so a failure half-way is torn down
        node.init()
        city.users = _add_users(node, roles)
        node.start()
        return city

    made: list[City] = []
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            sec = pool.submit(
                make, SECRETARIAT, "Secretariat", "AT", "secretariat",
                {"secretariat": "chair@secretariat.example"},
            )  # fmt: skip
            gent = pool.submit(
                make, "be-gent", "Gent", "BE", "city",
                {"official": "ana@gent.example", "admin": "mayor@gent.example"},
            )  # fmt: skip
            lyon = pool.submit(
                make, "fr-lyon", "Lyon", "FR", "city",
                {"official": "claire@lyon.example", "reviewer": "paul@lyon.example"},
            )  # fmt: skip
            network = Network(sec.result(), gent.result(), lyon.result())
    except BaseException:
        stop_all(c.node for c in made)
        raise
    for city in network.cities():
        city.runtime = node_runtime(load_config(city.node.data_dir, environ=city.node.env()))
    return network


def _join_and_twin(net: Network) -> None:
    chair = net.secretariat.client("secretariat")
    gent, lyon = net.gent.client("official"), net.lyon.client("official")
    for city in (gent, lyon):
        city.call("POST", "/peers", {"url": chair.base_url}, expect=202)
    net.settle("the secretariat holds both applications", lambda: len(chair.items("/members")) == 2)
    for city in (gent, lyon):
        chair.call("POST", f"/members/{city.city_id}/admit", {})
    gent.call("POST", "/peers", {"url": lyon.base_url}, expect=202)
    net.settle(
        "Lyon sees Gent's twinning request", lambda: lyon.peer_states().get("be-gent") == "pending"
    )
    lyon.call("POST", "/peers/be-gent/accept", {})
    for city, other in ((gent, lyon), (lyon, gent)):
        net.settle(
            f"{city.city_id} is a member and twinned with {other.city_id}",
            lambda city=city, other=other: (
                city.peer_states() == {SECRETARIAT: "active", other.city_id: "active"}
            ),
        )


def _figures(net: Network) -> None:
    """Gent's 2024 figure (so its trend has two points) and Lyon's own 2025 figure (a comparison
    needs both cities' figures for the same indicator and period), which Lyon publishes: Gent's
    page of its twin then has a comparison and a received summary to show."""
    for city, period, value in ((net.gent, "2024", "12.9"), (net.lyon, "2025", "14.2")):
        city.client("official").call(
            "POST",
            "/results",
            [{"indicator": INDICATOR, "period": period, "value": value, "status": "published"}],
            expect=201,
        )
    net.lyon.client("official").call("POST", "/summaries", {"period": "2025"}, expect=201)
    gent = net.gent.client("official")
    net.settle("Gent holds Lyon's 2025 summary", lambda: gent.items("/peers/fr-lyon/summaries"))


def _mentoring(net: Network) -> str:
    """Gent proposes to mentor Lyon; Lyon accepts; Gent drafts the agreement (scoping)."""
    gent, lyon = net.gent.client("official"), net.lyon.client("official")
    rel = gent.call(
        "POST",
        "/mentoring",
        {"partner": "fr-lyon", "our_side": "mentor", "title": "Eviction prevention"},
        expect=201,
    )["id"]
    net.settle("Lyon holds the proposal", lambda: lyon.peek(f"/mentoring/{rel}") is not None)
    lyon.call("POST", f"/mentoring/{rel}/transitions", {"action": "accept"})
    net.settle(
        "Gent sees the relationship scoping",
        lambda: gent.call("GET", f"/mentoring/{rel}")["state"] == "scoping",
    )
    today = datetime.now(UTC).date()
    gent.call(
        "POST",
        f"/mentoring/{rel}/agreement",
        {
            "terms": "A call every month; one site visit.",
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=365)).isoformat(),
            "goals": [{"text": "Halve evictions without alternative accommodation by 2030."}],
        },
        expect=201,
    )
    return str(rel)


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """The secretariat, Gent and Lyon: members, twinned, mentoring; stopped whatever happens."""
    started = time.monotonic()
    net = _start(tmp_path_factory.mktemp("scenario"))
    try:
        _join_and_twin(net)
        _figures(net)
        net.ids["rel"] = _mentoring(net)
        net.ids["twin"] = "fr-lyon"
        print(f"\nscenario network ready in {time.monotonic() - started:.0f} s")
        yield net
    finally:
        for city in net.cities():
            if city.runtime is not None:
                city.runtime.engine.dispose()
        # Stopped side by side: each may take its graceful seconds, no need to queue them.
        with ThreadPoolExecutor(max_workers=3) as pool:
            stopped = pool.map(lambda city: stop_all([city.node]), net.cities())
            problems = [problem for each in stopped for problem in each]
        if problems:
            pytest.fail("teardown of nodes failed:\n" + "\n".join(problems))


def _current_summary(client: Member, period: str) -> dict[str, Any] | None:
    """The city's newest own summary of ``period`` (the network's copy), or None."""
    own = [s for s in client.items("/summaries") if s["period"] == period]
    if not own:
        return None
    return dict(max(own, key=lambda s: (s["revision"], s["audience"] == ["network"])))


def _act(client: Member, rid: str, action: str, data: dict[str, Any] | None = None) -> Any:
    """One review action through the API, as ``client``'s user."""
    return client.call("POST", f"/reviews/{rid}/actions", {"action": action, "data": data or {}})


def _review(net: Network) -> str:
    """The peer review of Gent's current 2025 summary, in its first round (created once).

    Chaired by the secretariat (Gent's home node), Lyon on the panel. Made through the API:
    the review's own pages are tested in test_review_browser.py; here it is the stage.
    """
    if "review" in net.ids:
        return net.ids["review"]
    chair = net.secretariat.client("secretariat")
    gent, gent_admin = net.gent.client("official"), net.gent.client("admin")
    reviewer = net.lyon.client("reviewer")
    summary = _current_summary(gent, "2025")
    if summary is None:  # the audit alone (-k): publish what the scenario would have published
        gent.call("POST", "/summaries", {"period": "2025"}, expect=201)
        summary = _current_summary(gent, "2025")
        assert summary is not None

    def state_at(client: Member) -> str | None:
        view = client.peek(f"/reviews/{rid}")
        return None if view is None else str(view["state"])

    rid = gent.call(
        "POST",
        "/reviews",
        {
            "title": "Housing 2025",
            "scope": {"themes": [THEME]},
            "summaries": [summary["envelope_sha256"]],
            "min_reviewers": 1,  # a panel of one: two cities suffice for the scenario
        },
        expect=201,
    )["id"]
    _act(gent_admin, rid, "submit")  # the validating authority submits it to the chair
    net.settle("the chair holds the request", lambda: state_at(chair) == "requested")
    _act(chair, rid, "form_panel")
    _act(chair, rid, "invite", {"city": "fr-lyon"})
    net.settle("Lyon is invited", lambda: state_at(reviewer) == "panel_forming")
    _act(reviewer, rid, "accept")
    net.settle(
        "the chair sees Lyon accept",
        lambda: (
            [a["state"] for a in chair.call("GET", f"/reviews/{rid}")["assignments"]]
            == ["accepted"]
        ),
    )
    _act(chair, rid, "open_round")
    for client in (reviewer, gent):
        net.settle(
            f"{client.city_id} sees the round open", lambda c=client: state_at(c) == "in_review"
        )
    net.ids["review"] = str(rid)
    return str(rid)


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _context(browser: Browser, node: NodeProcess, language: str = "en") -> BrowserContext:
    return browser.new_context(
        base_url=node.base_url, locale=language, viewport={"width": 1280, "height": 900}
    )


def _sign_in(page: Page, node: NodeProcess, who: NodeUser) -> None:
    """Sign in on ``node`` (a full URL: one context may visit several nodes in turn)."""
    page.goto(node.base_url + "/login")
    page.fill("#email", who.email)
    page.fill("#password", who.password)
    page.click("main form button[type=submit]")
    expect(page.locator(".who")).to_contain_text(who.email)


def _enter(page: Page, period: str, value: str, reason: str = "") -> None:
    """The entry page: one published total of the indicator for ``period``."""
    page.goto(f"/enter?indicator={INDICATOR}")
    form = page.locator("#entry-form")
    form.locator("#period").fill(period)
    form.locator("#value").fill(value)
    form.locator("#dim_SEX").select_option("_T")
    form.locator("#status").select_option("published")
    if reason:
        form.locator("#reason").fill(reason)
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash.success").first).to_contain_text(f"Saved {INDICATOR} for {period}")


def _publish(page: Page, period: str) -> None:
    """Publish ``period`` through the preview of exactly what will be signed, and for whom."""
    page.goto("/peers")
    page.locator("#publish-form #period").fill(period)
    page.locator("#publish-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/summaries/preview\?period={period}"))
    expect(page.locator("main")).to_contain_text("Lyon")  # the twin it goes to
    page.locator("#publish-form button[type=submit]").click()
    expect(page.locator(".flash.success").first).to_contain_text(f"Summary for {period} signed")


def test_a_corrected_figure_travels_to_the_twin_the_review_and_the_public_page(
    browser: Browser, twins: Network
) -> None:
    gent, lyon = twins.gent, twins.lyon

    # 1. Gent's official publishes a figure, corrects it with a reason, publishes again.
    context = _context(browser, gent.node)
    try:
        page = context.new_page()
        _sign_in(page, gent.node, gent.users["official"])
        _enter(page, "2025", FIRST)
        _publish(page, "2025")
        _enter(page, "2025", CORRECTED, reason=REASON)
        # The correction names the signed summary that still holds the old value (each signed
        # copy of it: the network's and the public one).
        affected = page.locator(".flash.success", has_text="signed summary of 2025")
        expect(affected.first).to_contain_text("revision 1")
        _shot(page, "1-gent-corrected")
        _publish(page, "2025")
        _shot(page, "2-gent-published")
    finally:
        context.close()
    published = _current_summary(gent.client("official"), "2025")
    assert published is not None and published["revision"] == 2

    # 2. Lyon's official sees the corrected value, as revision 2, in the twin comparison.
    twins.settle(
        "Lyon holds Gent's revision 2 of 2025",
        lambda: any(
            s["period"] == "2025" and s["revision"] == 2 and s["current"]
            for s in lyon.client("official").items("/peers/be-gent/summaries")
        ),
    )
    context = _context(browser, lyon.node)
    try:
        page = context.new_page()
        _sign_in(page, lyon.node, lyon.users["official"])
        page.goto("/peers/be-gent?period=2025")
        row = page.locator("#comparison tbody tr", has_text=INDICATOR)
        expect(row).to_have_count(1)
        theirs = row.locator("td.num").nth(1)  # Lyon's own column first, then Gent's
        expect(theirs).to_contain_text(CORRECTED)
        expect(theirs).to_contain_text("revision 2")
        expect(row).not_to_contain_text(FIRST)  # the value before the correction is gone
        expect(row.locator("td.num").nth(0)).to_contain_text("14.2")
        _shot(page, "3-lyon-comparison")
    finally:
        context.close()

    # 3. Lyon's reviewer comments on that value in the review's workspace.
    rid = _review(twins)
    context = _context(browser, lyon.node)
    try:
        page = context.new_page()
        _sign_in(page, lyon.node, lyon.users["reviewer"])
        page.goto(f"/reviews/{rid}")
        value_row = page.locator(f'table.values tr[data-indicator="{INDICATOR}"]')
        expect(value_row).to_have_count(1)
        expect(value_row.locator("td.num")).to_contain_text(CORRECTED)
        value_row.locator("details.add-comment > summary").click()
        form = value_row.locator("form.comment-form")
        form.locator("select[name=kind]").select_option("question")
        form.locator("textarea[name=text]").fill(COMMENT)
        form.locator("button[type=submit]").click()
        # Lyon is not the review's home: the chair's node decides, then the event comes back.
        expect(page.locator(".flash.success")).to_contain_text("sent to the chair's node")
        reviewer = lyon.client("reviewer")
        twins.settle(
            "the comment is confirmed back on Lyon",
            lambda: (
                [c["text"] for c in reviewer.call("GET", f"/reviews/{rid}")["comments"]]
                == [COMMENT]
            ),
        )
        page.goto(f"/reviews/{rid}")
        thread = value_row.locator("details.thread")
        expect(thread).to_contain_text(COMMENT)
        _shot(page, "4-lyon-review-comment")
    finally:
        context.close()
    # Anchored to the exact published value, and it reached the city under review.
    gent_view = twins.settle(
        "Gent holds the comment",
        lambda: (v := gent.client("official").call("GET", f"/reviews/{rid}"))["comments"] and v,
    )
    [comment] = gent_view["comments"]
    assert comment["anchor"]["summary_sha256"] == published["envelope_sha256"]
    assert (comment["anchor"]["indicator"], comment["anchor"]["period"]) == (INDICATOR, "2025")

    # 4. Gent's public page: the published result in the chart and in the table beside it.
    context = _context(browser, gent.node)
    try:
        page = context.new_page()
        page.goto(f"/portal/indicators/{INDICATOR}")
        trend = page.locator("#chart-trend")
        expect(trend.locator("svg[role=img]")).to_have_count(1)
        expect(trend.locator("svg desc")).to_contain_text(CORRECTED)
        expect(trend.locator("table")).to_contain_text(CORRECTED)
        expect(trend.locator("table")).not_to_contain_text(FIRST)
        _shot(page, "5-gent-public-page")
    finally:
        context.close()


def _to_response(net: Network, rid: str) -> None:
    """Lyon recommends and submits its review; the chair issues the report: Gent's response
    page then has a recommendation to answer (what its form is for)."""
    chair, gent = net.secretariat.client("secretariat"), net.gent.client("official")
    reviewer = net.lyon.client("reviewer")

    content = {
        "text": "Publish the eviction register's method with each yearly figure.",
        "lead_verb": "publish",
        "action_level": 4,
        "themes": [THEME],
        "indicators": [INDICATOR],
    }
    _act(
        reviewer,
        rid,
        "draft_recommendation",
        {"id": "cc000001", "content": content, "issuing_cities": ["fr-lyon"]},
    )
    _act(reviewer, rid, "submit_review", {"verdict": "concerns", "summary": "Explain the recount."})
    net.settle(
        "the chair holds Lyon's review",
        lambda: (
            [a["state"] for a in chair.call("GET", f"/reviews/{rid}")["assignments"]]
            == ["submitted"]
        ),
    )
    for step in ("close_round", "start_factual_check", "issue"):
        _act(chair, rid, step)
    net.settle(
        "Gent is asked to respond",
        lambda: gent.call("GET", f"/reviews/{rid}")["state"] == "awaiting_response",
    )


def _to_follow_up(net: Network, rid: str) -> None:
    """Gent supports the recommendation, the chair adopts: the follow-up phase."""
    chair, gent_admin = net.secretariat.client("secretariat"), net.gent.client("admin")
    positions = [{"recommendation_id": "cc000001", "position": "supported"}]
    _act(gent_admin, rid, "respond", {"positions": positions})
    net.settle(
        "the chair holds the response",
        lambda: chair.call("GET", f"/reviews/{rid}")["state"] == "responded",
    )
    _act(chair, rid, "adopt")
    net.settle(
        "Gent is in the follow-up",
        lambda: gent_admin.call("GET", f"/reviews/{rid}")["state"] == "follow_up",
    )


def test_pages_that_need_a_second_node_pass_axe_in_every_language(
    browser: Browser, twins: Network
) -> None:
    assert AXE.is_file(), f"{AXE} missing: run `make .venv/.installed` (npm ci --ignore-scripts)"
    ids = {**twins.ids, "review": _review(twins)}
    _to_response(twins, ids["review"])
    gent, secretariat = twins.gent, twins.secretariat
    # Each page in the state where its forms are in use: the response while the city is asked to
    # respond, the follow-up once the outcome is adopted; seen by Gent's administrator, the
    # validating authority who sends both (an official sees the same pages without the forms).
    later = {"reviews_web.follow_up"}
    audit = Audit()
    started = time.monotonic()
    # One context per language, kept for both states; the three nodes share 127.0.0.1, so their
    # session cookies would collide: one node at a time, cookies cleared in between.
    contexts = {language: _context(browser, gent.node, language) for language in SUPPORTED_LOCALES}
    try:
        pages = {language: context.new_page() for language, context in contexts.items()}
        for language, page in pages.items():
            _sign_in(page, gent.node, gent.users["admin"])
            for endpoint, path in CITY_PAGES.items():
                if endpoint not in later:
                    _audit_page(page, audit, endpoint=endpoint, path=path.format(**ids),
                                language=language, who="gent-admin")  # fmt: skip
            contexts[language].clear_cookies()
            _sign_in(page, secretariat.node, secretariat.users["secretariat"])
            for endpoint, path in CHAIR_PAGES.items():
                _audit_page(page, audit, endpoint=endpoint,
                            path=secretariat.node.base_url + path.format(**ids),
                            language=language, who="secretariat-chair")  # fmt: skip
            contexts[language].clear_cookies()
        _to_follow_up(twins, ids["review"])
        for language, page in pages.items():
            _sign_in(page, gent.node, gent.users["admin"])
            for endpoint in sorted(later):
                _audit_page(page, audit, endpoint=endpoint,
                            path=CITY_PAGES[endpoint].format(**ids),
                            language=language, who="gent-admin")  # fmt: skip
    finally:
        for context in contexts.values():
            context.close()
    print(
        f"\nnetwork pages: {audit.pages_audited} page views in {time.monotonic() - started:.0f} s"
    )
    listing = "\n".join(
        f"- [{v['impact']}] {v['rule']} at {v['target']} on {v['where']}: {v['summary']}"
        for v in audit.violations
    )
    assert not audit.violations, f"{len(audit.violations)} serious/critical:\n{listing}"
    assert not audit.overflows, "pages scroll sideways at 390 px:\n" + "\n".join(audit.overflows)
    assert audit.visited == NETWORK_PAGES
