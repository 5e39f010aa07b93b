"""axe-core (WCAG 2.0/2.1 A + AA) on every page, in every language, at 1280 px and 390 px.

A real ``hrcnet serve`` node (tests/browser/conftest.py), Debian's headless Chromium, and the
axe-core pinned in ``package.json`` (installed by ``make`` with ``npm ci --ignore-scripts``). Each
language gets one browser context (its ``Accept-Language`` picks the pages' language, as
node/i18n.py's selector does for a browser that never used the menu); an official's, an
administrator's and an anonymous visitor's pages are audited. The rule: no violation of impact
*serious* or *critical*, and at 390 px no horizontal scroll. Screenshots of each page at 390 px
are kept under ``test-artifacts/a11y/`` (git-ignored) for a person to look at: every page in
the first language, and in every language each page that fails.

Every GET page route of the app must be either visited here, or audited on real twinned nodes
by ``test_network_scenario.py`` (``network_support.NETWORK_PAGES``: the pages that need a second
node), or listed in ``SKIPPED`` with the reason: a new page cannot escape the audit by being
forgotten.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from node.i18n import SUPPORTED_LOCALES
from tests.browser.community_support import send_report
from tests.browser.network_support import NETWORK_PAGES
from tests.browser.test_browser_pages import INDICATOR, enter_figure, sign_in
from tests.multinode.harness import NodeProcess, NodeUser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "a11y"

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = {"serious", "critical"}
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}

# The pages an official reaches (endpoint -> path visited). The error page is reached through an
# indicator that does not exist.
OFFICIAL_PAGES: dict[str, str] = {
    "web.dashboard": "/",
    "web.catalogue_page": "/catalogue",
    "web.indicator_page": f"/catalogue/{INDICATOR}",
    "web.enter": f"/enter?indicator={INDICATOR}",
    "web.import_page": "/import",
    # Figure 1 exists: the crawl enters a figure first (ids are never reused or deleted).
    "web.result_history": "/results/1/history",
    "web.change_password": "/account/password",
    "benchmarks_web.benchmarks_page": "/benchmarks",
    "benchmarks_web.benchmark_page": f"/benchmarks/{INDICATOR}",
    "network_web.peers_page": "/peers",
    "network_web.status_page": "/network/status",
    "notifications_web.notifications_page": "/notifications",
    "reviews_web.reviews_page": "/reviews",
    "reviews_web.public_recommendations": "/recommendations",
    "mentoring_web.relationships_page": "/mentoring",
    "planning_web.targets_page": f"/targets?indicator={INDICATOR}",
    "planning_web.budget_page": "/budget",
    "planning_web.import_templates": "/import/templates",
    "evidence_web.evidence_page": "/evidence",
    "network_web.publish_preview": "/summaries/preview?period=2025",
    "community_web.reports_page": "/community/reports",
    # The report the anonymous pass sends through the form (the node's first report).
    "community_web.report_page": "/community/reports/1",
}
# What only an administrator reaches.
ADMIN_PAGES: dict[str, str] = {
    "admin_web.users_page": "/admin/users",
    "admin_web.tokens_page": "/admin/tokens",
    # CSO partners and administrators state civil-society figures (officials may not).
    "cso_web.figures_page": "/cso-figures",
}
# What a visitor who is not signed in sees (the sign-in page only exists for them).
ANONYMOUS_PAGES: dict[str, str] = {
    "web.login": "/login",
    "web.dashboard": "/",
    "web.catalogue_page": "/catalogue",
    "web.indicator_page": f"/catalogue/{INDICATOR}",
    "benchmarks_web.benchmarks_page": "/benchmarks",
    "reviews_web.public_recommendations": "/recommendations",
    # A link nobody issued: the page that says so (a real link is used up by its first visit).
    "admin_web.reset_password": "/reset/a-link-nobody-issued-aaaaaaaaaaaaaaaa",
    "community_web.report_form": "/report",
}
ERROR_PAGE = "/catalogue/NO-SUCH-INDICATOR"

# GET routes not audited here, each with its reason.
SKIPPED: dict[str, str] = {
    "static": "files (CSS), not a page",
    "meta.well_known": "JSON for peers, not a page",
    "meta.healthz": "JSON health check, not a page",
    "metrics.metrics_view": "Prometheus text for the operator's monitoring, not a page",
    "federation.keys": "JSON for peers, not a page",
    "federation.get_outbox": "JSON for peers, not a page",
    "network_web.secretariat_page": "a secretariat node's page; this node is a city",
    **{
        f"portal.{name}": "the public portal needs published figures and signed summaries: "
        "audited anonymously by test_portal_accessibility.py"
        for name in (
            "home",
            "indicator_page",
            "verify_page",
            "open_data",
            "embed",
            "annual_report",
            "annual_report_pdf",  # a PDF once printed; before, its "being prepared" page
        )
    },
    "portal.download": "files (CSV, JSON, SDMX-JSON), not a page",
    "portal.public_summary": "a signed envelope (JSON), not a page",
    "portal.cso_download": "civil-society figures as files (CSV, JSON), not a page",
    "portal.feed": "an Atom feed (XML), not a page",
    "portal.embed_svg": "an SVG image, not a page",
    **{
        f"secretariat_web.{name}": "a secretariat node's page (404 on this city): audited on a "
        "secretariat node by test_secretariat_accessibility.py"
        for name in (
            "members_page",
            "directory_page",
            "releases_page",
            "benchmarks_page",
            "overdue_page",
        )
    },
    "planning_web.import_template": "a CSV download, not a page",
    "evidence_web.download_attachment": "a file download (PDF, image, text), not a page",
    "cso_web.public_statement": "a signed JSON statement served verbatim, not a page",
}

# Violations that could not be fixed yet: (endpoint or "error", rule id) -> reason. Each one is a
# strict xfail below: when it is fixed the xfail fails and the entry must go.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


@dataclass
class Audit:
    """What the crawl found: blocking violations, sideways scrolls, pages seen, run time."""

    violations: list[dict[str, Any]] = field(default_factory=list)
    overflows: list[str] = field(default_factory=list)
    visited: set[str] = field(default_factory=set)
    seconds: float = 0.0
    pages_audited: int = 0


# The innermost elements whose right edge passes the window: what to fix when a page overflows.
WIDEST_ELEMENTS = """(() => {
  const out = e => e.getBoundingClientRect().right > window.innerWidth + 0.5;
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    (typeof e.className === 'string' && e.className ? '.' + e.className.split(' ').join('.') : '');
  return [...document.querySelectorAll('body *')]
    .filter(e => out(e) && ![...e.children].some(out))
    .slice(0, 3)
    .map(e => name(e) + ' right=' + Math.round(e.getBoundingClientRect().right));
})()
"""


def _run_axe(page: Page) -> list[dict[str, Any]]:
    """axe's violations of the WCAG 2.0/2.1 A+AA rules on the current page."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        """async (tags) => await axe.run(document, {
               runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})""",
        WCAG_TAGS,
    )
    return list(result["violations"])


def _audit_page(
    page: Page, audit: Audit, *, endpoint: str, path: str, language: str, who: str
) -> None:
    """Visit ``path`` once and audit it at both widths; record blocking violations, overflow, and
    a phone screenshot (in the first language, and in any language where the page fails)."""
    page.set_viewport_size({"width": WIDTHS["desktop"][0], "height": WIDTHS["desktop"][1]})
    page.goto(path)
    # One load, two viewports: the server never sees the width and the pages run no script, so
    # resizing re-lays out the same document exactly as a fresh load at that width would (the
    # media queries apply on resize), at half the cost of loading every page twice.
    for width_name, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        audit.pages_audited += 1
        failed = False
        for violation in _run_axe(page):
            if violation["impact"] not in BLOCKING_IMPACTS:
                continue
            failed = True
            for node in violation["nodes"]:
                audit.violations.append(
                    {
                        "endpoint": endpoint,
                        "rule": violation["id"],
                        "impact": violation["impact"],
                        "where": f"{who} {language} {width}px {path}",
                        "target": " ".join(str(t) for t in node["target"]),
                        "summary": node.get("failureSummary", "").replace("\n", " ")[:300],
                    }
                )
        if width_name == "phone":
            scroll_width, inner_width = page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            if scroll_width > inner_width:
                failed = True
                audit.overflows.append(
                    f"{who} {language} {path}: scrollWidth {scroll_width} > {inner_width}"
                    f" (widest: {', '.join(page.evaluate(WIDEST_ELEMENTS))})"
                )
            # Full-page screenshots are the slowest step of the crawl: one language's set for a
            # person to look through, plus every page that fails, where the picture is needed.
            if failed or language == SUPPORTED_LOCALES[0]:
                shot = ARTIFACTS / language / f"{who}-{endpoint.replace('.', '-')}.png"
                shot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shot), full_page=True)
    audit.visited.add(endpoint)


def _new_context(browser: Browser, base_url: str, language: str) -> BrowserContext:
    return browser.new_context(
        base_url=base_url, locale=language, viewport={"width": 1280, "height": 900}
    )


@pytest.fixture(scope="module")
def audit(
    browser: Browser,
    base_url: str,
    browser_node: NodeProcess,
    node_official: NodeUser,
    node_admin: NodeUser,
) -> Audit:
    """Crawl every page, as an official and anonymously, in all six languages, once."""
    assert AXE.is_file(), f"{AXE} missing: run `make .venv/.installed` (npm ci --ignore-scripts)"
    result = Audit()
    started = time.monotonic()
    for language in SUPPORTED_LOCALES:
        context = _new_context(browser, base_url, language)
        try:
            page = context.new_page()
            for endpoint, path in ANONYMOUS_PAGES.items():
                _audit_page(page, result, endpoint=endpoint, path=path, language=language,
                            who="anonymous")  # fmt: skip
            if language == SUPPORTED_LOCALES[0]:
                send_report(page)  # the report whose moderator page is audited
            sign_in(page, node_official)
            if language == SUPPORTED_LOCALES[0]:
                # A figure, so the indicator page shows its table and chart (not an empty page).
                enter_figure(page, value="12.5", sex="_T", status="validated")
            for endpoint, path in OFFICIAL_PAGES.items():
                _audit_page(page, result, endpoint=endpoint, path=path, language=language,
                            who="official")  # fmt: skip
            _audit_page(page, result, endpoint="error", path=ERROR_PAGE, language=language,
                        who="official")  # fmt: skip
            context.clear_cookies()
            sign_in(page, node_admin)
            for endpoint, path in ADMIN_PAGES.items():
                _audit_page(page, result, endpoint=endpoint, path=path, language=language,
                            who="admin")  # fmt: skip
        finally:
            context.close()
    result.seconds = time.monotonic() - started
    print(f"\naxe audit: {result.pages_audited} page views in {result.seconds:.0f} s")
    return result


def _page_routes(data_dir: Path) -> set[str]:
    """Endpoints of the app's GET routes outside the JSON API (what a browser may be sent to)."""
    from node.app import create_app

    app = create_app(data_dir)
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or set()) and not rule.rule.startswith("/api")
    }


def test_every_page_route_is_audited_or_skipped_with_a_reason(
    audit: Audit, browser_node: NodeProcess
) -> None:
    routes = _page_routes(browser_node.data_dir)
    # The pages that need a second node are audited on the scenario's twinned cities
    # (test_network_scenario.py asserts it visited exactly these).
    forgotten = routes - audit.visited - NETWORK_PAGES - set(SKIPPED)
    assert not forgotten, f"GET page routes neither audited nor in SKIPPED: {sorted(forgotten)}"
    stale = (set(SKIPPED) | NETWORK_PAGES) - routes
    assert not stale, f"SKIPPED/NETWORK_PAGES list routes the app no longer has: {sorted(stale)}"
    assert not (audit.visited & set(SKIPPED)), "a route is both audited and skipped"
    assert not (NETWORK_PAGES & set(SKIPPED)), "a route is both audited and skipped"


def test_no_serious_or_critical_axe_violation(audit: Audit) -> None:
    blocking = [v for v in audit.violations if (v["endpoint"], v["rule"]) not in KNOWN_VIOLATIONS]
    listing = "\n".join(
        f"- [{v['impact']}] {v['rule']} at {v['target']} on {v['where']}: {v['summary']}"
        for v in blocking
    )
    assert not blocking, f"{len(blocking)} serious/critical axe violations:\n{listing}"


def test_no_horizontal_scroll_at_390_px(audit: Audit) -> None:
    assert not audit.overflows, "pages scroll sideways at 390 px:\n" + "\n".join(audit.overflows)


@pytest.mark.parametrize(
    "endpoint_rule",
    [
        pytest.param(key, marks=pytest.mark.xfail(strict=True, reason=why))
        for key, why in KNOWN_VIOLATIONS.items()
    ],  # fmt: skip
)
def test_known_violation_is_still_there(audit: Audit, endpoint_rule: tuple[str, str]) -> None:
    """A listed, not yet fixed violation: fails (xfail) while it is there, passes once fixed."""
    still_there = any((v["endpoint"], v["rule"]) == endpoint_rule for v in audit.violations)
    assert not still_there


def test_a_field_in_error_is_marked_described_and_focused(
    page: Page, node_official: NodeUser
) -> None:
    """WCAG 3.3.1 / issue 15: after a refused entry the field says it is invalid, names its error
    message, and has the focus (so a screen-reader or keyboard user lands on it)."""
    sign_in(page, node_official)
    enter_figure(page, value="not a number", sex="_T", status="validated")
    field = page.locator("#entry-form #value")
    assert field.get_attribute("aria-invalid") == "true"
    described = (field.get_attribute("aria-describedby") or "").split()
    messages = [page.locator(f"#{ident}").inner_text() for ident in described]
    assert any("number" in message for message in messages), (described, messages)
    # autofocus is applied at the page's next rendering step: expect() waits for it (bounded).
    expect(field).to_be_focused()
    # The fields without an error are not marked invalid.
    assert page.locator("#entry-form [aria-invalid]").count() == 1
