"""axe-core on the secretariat staff's pages, in every language, at 1280 px and 390 px.

These pages exist only on a secretariat node (404 on a city), so the city crawl of
``test_accessibility.py`` lists them in its ``SKIPPED`` with a pointer here. The secretariat is
an in-process node of the federation fixture, with an admitted member, a pending application, a
published release, an overdue deadline and a member's summary, served on a loopback port for
the length of the test (the same rule as the city crawl: no serious or critical violation, no
horizontal scroll at 390 px; screenshots under ``test-artifacts/a11y/``). The states a form
reaches after a POST (a draft's diff, a refused reason) are audited too.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from node.db import session_scope
from node.i18n import SUPPORTED_LOCALES
from tests.browser.test_accessibility import Audit, _audit_page, _run_axe
from tests.browser.test_review_browser import serving
from tests.federation.conftest import SECRETARIAT, record
from tests.federation.test_secretariat import join

pytestmark = pytest.mark.browser

STAFF_PAGES = {
    "secretariat_web.members_page": "/secretariat/members",
    "secretariat_web.directory_page": "/secretariat/directory",
    "secretariat_web.releases_page": "/secretariat/releases",
    "secretariat_web.benchmarks_page": "/secretariat/benchmarks",
    "secretariat_web.overdue_page": "/secretariat/overdue",
}


def _catalogue(shared_dir: Path, version: str) -> dict[str, Any]:
    document = json.loads((shared_dir / "data" / "indicator_catalogue.json").read_text())
    document["version"] = version
    return document


def _blocking(page: Page, where: str) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}) at {where}"
        for v in _run_axe(page)
        if v["impact"] in ("serious", "critical")
    ]


def test_secretariat_pages_pass_axe_in_every_language(
    network: Any, browser: Browser, shared_dir: Path
) -> None:
    from peer_review import deadlines

    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    join(secretariat, [gent])
    assert lyon.request_twin({"url": secretariat.base_url})["state"] == "requested"
    lyon.deliver()  # a pending application, so the members page shows its forms
    published = secretariat.api(
        "POST", "/catalogue/releases", {"document": _catalogue(shared_dir, "0.2.0")}
    )
    assert published.status_code == 201
    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    gent.api("POST", "/summaries", {"period": "2025"})
    gent.deliver()
    now = secretariat.clock()
    with session_scope(secretariat.runtime.sessions) as session:
        deadlines.arm(
            session,
            subject="review:1",
            kind="review_submission",
            due_at=now - timedelta(days=3),
            now=now - timedelta(days=50),
            title="Submit the review of Gent's housing figures",
            link="/reviews/1",
        )
    draft = _catalogue(shared_dir, "0.3.0")
    draft["indicators"][0]["name"] = "A renamed indicator"
    draft["indicators"].pop()

    audit, extra = Audit(), []
    with serving(secretariat.app) as url:
        for language in SUPPORTED_LOCALES:
            context = browser.new_context(
                base_url=url, locale=language, viewport={"width": 1280, "height": 900}
            )
            try:
                page = context.new_page()
                page.goto("/login")
                page.fill("#email", f"official@{SECRETARIAT}.example")
                page.fill("#password", "correct horse battery")
                page.click("main form button[type=submit]")
                expect(page).to_have_url(re.compile(r"/$"))
                for endpoint, path in STAFF_PAGES.items():
                    _audit_page(page, audit, endpoint=endpoint, path=path, language=language,
                                who="secretariat")  # fmt: skip
                for width in (1280, 390):
                    page.set_viewport_size({"width": width, "height": 844})
                    # A draft's field-by-field diff, with the publish form.
                    page.goto("/secretariat/releases")
                    page.fill("#text", json.dumps(draft))
                    page.click("#draft-form button[type=submit]")
                    expect(page.locator("#changed")).to_have_count(1)
                    extra += _blocking(page, f"{language} {width}px release diff")
                    # A decline without its reason: the field is marked and focused.
                    page.goto("/secretariat/members")
                    decline = page.locator('form[action$="/fr-lyon/decline"]')
                    # The browser's own check (required) would stop the form before the server
                    # sees it; the server's answer is what is audited here.
                    decline.evaluate("form => { form.noValidate = true; }")
                    decline.locator("button[type=submit]").click()
                    field = page.locator("#decline-fr-lyon-reason")
                    expect(field).to_have_attribute("aria-invalid", "true")
                    expect(field).to_be_focused()
                    extra += _blocking(page, f"{language} {width}px refused decline")
                    if width == 390:
                        scroll, inner = page.evaluate(
                            "[document.documentElement.scrollWidth, window.innerWidth]"
                        )
                        if scroll > inner:
                            audit.overflows.append(f"{language} refused decline: {scroll}")
            finally:
                context.close()
    listing = "\n".join(
        f"- {v['rule']} ({v['impact']}) at {v['target']} on {v['where']}" for v in audit.violations
    )
    assert not audit.violations, listing
    assert not extra, "\n".join(extra)
    assert not audit.overflows, "\n".join(audit.overflows)
    assert audit.visited == set(STAFF_PAGES)
