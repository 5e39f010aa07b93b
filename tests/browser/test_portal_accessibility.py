"""axe-core on the public portal's pages (anonymous), in every language, at 1280 px and 390 px.

The portal's pages need published figures, targets and signed summaries to show their charts,
tables and hashes, so they are audited here, on an in-process node of the federation fixture
with such data, served on a loopback port for the length of the test; the city crawl of
``test_accessibility.py`` lists them in its ``SKIPPED`` with a pointer here. Same rule: no
serious or critical violation, no horizontal scroll at 390 px (screenshots under
``test-artifacts/a11y/``).
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser

from node.i18n import SUPPORTED_LOCALES
from tests.browser.test_accessibility import Audit, _audit_page
from tests.browser.test_review_browser import serving

pytestmark = pytest.mark.browser

INDICATOR = "HRC-HOU-01"
PORTAL_PAGES = {
    "portal.home": "/portal",
    "portal.indicator_page": f"/portal/indicators/{INDICATOR}",
    "portal.verify_page": "/portal/verify",
    "portal.open_data": "/open-data",
    "portal.embed": f"/embed/indicators/{INDICATOR}",
    "portal.annual_report": "/annual-report/2025",
    # Nothing is printed on this node: the PDF's route answers its "being prepared" page.
    "portal.annual_report_pdf": "/annual-report/2025.pdf",
}


def _figures() -> list[dict[str, Any]]:
    items = []
    for period, total, women, men in (("2024", "19", "22", "16"), ("2025", "18", "24", "14")):
        for breakdown, value in (({}, total), ({"SEX": "F"}, women), ({"SEX": "M"}, men)):
            items.append(
                {
                    "indicator": INDICATOR,
                    "period": period,
                    "value": value,
                    "status": "published",
                    "disaggregation": breakdown,
                    "source": "Municipal housing office register",
                    "confirm_outlier": True,
                }
            )
    return items


def test_portal_pages_pass_axe_in_every_language(network: Any, browser: Browser) -> None:
    (gent,) = network("be-gent")
    target = {
        "indicator": INDICATOR,
        "baseline": {"period": "2020", "value": "20"},
        "target": {"period": "2030", "value": "10"},
    }
    assert gent.api("POST", "/targets", target).status_code == 200
    assert gent.api("POST", "/results", _figures()).status_code == 201
    for period in ("2024", "2025"):
        assert gent.api("POST", "/summaries", {"period": period}).status_code == 201
    audit = Audit()
    with serving(gent.app) as url:
        for language in SUPPORTED_LOCALES:
            # bypass_csp: the embed's policy (default-src 'none') would block axe's own script.
            context = browser.new_context(
                base_url=url,
                locale=language,
                viewport={"width": 1280, "height": 900},
                bypass_csp=True,
            )
            try:
                page = context.new_page()
                for endpoint, path in PORTAL_PAGES.items():
                    _audit_page(page, audit, endpoint=endpoint, path=path, language=language,
                                who="anonymous")  # fmt: skip
            finally:
                context.close()
    listing = "\n".join(
        f"- {v['rule']} ({v['impact']}) at {v['target']} on {v['where']}" for v in audit.violations
    )
    assert not audit.violations, listing
    assert not audit.overflows, "\n".join(audit.overflows)
    assert audit.visited == set(PORTAL_PAGES)
