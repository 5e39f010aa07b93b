"""The charts in a real browser: the indicator page (signed in and public) and the dashboard with
trend, breakdowns and equality-gap charts, audited by axe-core in all six languages at 1280 and
390 px (no serious or critical violation, no horizontal scroll), screenshots kept.

The general audit (test_accessibility.py) visits the same routes with one figure; here the
indicator has several periods, breakdowns by two grounds, a target and a widening gap, so every
chart and table these pages can show is on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from node.i18n import SUPPORTED_LOCALES
from tests.browser.test_accessibility import Audit, _audit_page, _new_context
from tests.browser.test_browser_pages import sign_in
from tests.multinode.harness import NodeProcess, NodeUser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "charts"
CHARTED = "HRC-MOB-01"  # an outcome, higher is better, broken down by SEX and DISABILITY


def _figure(period: str, value: str, **breakdown: str) -> dict[str, Any]:
    return {
        "indicator": CHARTED,
        "period": period,
        "value": value,
        "status": "published",
        "disaggregation": breakdown,
    }


@pytest.fixture(scope="module")
def charted(browser_node: NodeProcess, node_official: NodeUser) -> str:
    """Published figures for 2023-2025: total, by sex (gap 4, 3, 6: widening), by disability."""
    figures = [
        _figure("2023", "61.5"),
        _figure("2024", "63"),
        _figure("2025", "64.25"),
        *(
            _figure(period, value, SEX=sex)
            for period, f, m in (
                ("2023", "59.5", "63.5"),
                ("2024", "61.5", "64.5"),
                ("2025", "61", "67"),
            )
            for sex, value in (("F", f), ("M", m))
        ),  # fmt: skip
        _figure("2024", "48", DISABILITY="DIS"),
        _figure("2024", "66", DISABILITY="NODIS"),
    ]
    target = {
        "indicator": CHARTED,
        "baseline": {"period": "2020", "value": "58"},
        "target": {"period": "2030", "value": "75"},
    }
    answer = browser_node.api("POST", "/api/v1/targets", json=target, token=node_official.token)
    assert answer.status_code == 200, answer.text
    answer = browser_node.api("POST", "/api/v1/results", json=figures, token=node_official.token)
    assert answer.status_code == 201, answer.text
    return f"/catalogue/{CHARTED}"


def test_the_public_page_shows_the_charts_beside_their_tables(page: Page, charted: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(charted)
    charts = page.locator("figure.chart svg[role=img]")
    # The trend, the two grounds' lines, the two grounds' gaps.
    expect(charts).to_have_count(5)
    trend = page.locator("#chart-trend")
    expect(trend.locator("svg")).to_have_attribute(
        "aria-labelledby", f"trend-{CHARTED}-title trend-{CHARTED}-desc"
    )
    expect(trend.locator("caption")).to_have_text(
        "Total by period, with the baseline and the target"
    )
    expect(trend.locator("tbody tr")).to_have_count(5)  # 3 periods, baseline, target
    # Beside, not below, on a wide screen: the table starts right of the chart.
    chart_box = trend.locator("figure").bounding_box()
    table_box = trend.locator("table").bounding_box()
    assert chart_box and table_box and table_box["x"] >= chart_box["x"] + chart_box["width"]
    gap = page.locator("#chart-gap-SEX")
    expect(gap.locator("tbody tr")).to_have_count(3)
    expect(page.locator("p.gap-widening")).to_contain_text("Widening")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "public-indicator.png"), full_page=True)
    # Below each other on a phone, and nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(charted)
    chart_box = page.locator("#chart-trend figure").bounding_box()
    table_box = page.locator("#chart-trend table").bounding_box()
    assert chart_box and table_box and table_box["y"] >= chart_box["y"] + chart_box["height"] - 1
    page.screenshot(path=str(SHOTS / "public-indicator-390.png"), full_page=True)


def test_the_dashboard_lists_the_widening_gap_and_links_to_its_chart(
    page: Page, charted: str, node_official: NodeUser
) -> None:
    sign_in(page, node_official)
    widening = page.locator("#attention-widening a", has_text=CHARTED)
    expect(widening).to_have_count(1)
    widening.click()
    expect(page).to_have_url(
        f"{page.url.split('#')[0].split('/catalogue')[0]}{charted}#chart-gap-SEX"
    )
    expect(page.locator("#chart-gap-SEX figure svg")).to_be_visible()


def test_chart_pages_pass_axe_in_every_language_at_both_widths(
    browser: Browser, base_url: str, charted: str, node_official: NodeUser
) -> None:
    audit = Audit()
    for language in SUPPORTED_LOCALES:
        context = _new_context(browser, base_url, language)
        try:
            page = context.new_page()
            _audit_page(page, audit, endpoint="chart-public", path=charted, language=language,
                        who="anonymous")  # fmt: skip
            _audit_page(page, audit, endpoint="dashboard-public", path="/", language=language,
                        who="anonymous")  # fmt: skip
            sign_in(page, node_official)
            _audit_page(page, audit, endpoint="chart-official", path=charted, language=language,
                        who="official")  # fmt: skip
            _audit_page(page, audit, endpoint="dashboard-official", path="/", language=language,
                        who="official")  # fmt: skip
        finally:
            context.close()
    assert audit.pages_audited == len(SUPPORTED_LOCALES) * 4 * 2
    assert audit.violations == [], audit.violations[:5]
    assert audit.overflows == []
