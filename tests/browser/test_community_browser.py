"""The community report form in a real headless Chromium: without JavaScript at a phone's width,
its errors tied to their fields, the acknowledgement with the reference, and axe-core on the
form (empty and with errors), the acknowledgement and the moderators' pages in six languages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from node.i18n import SUPPORTED_LOCALES
from tests.browser.community_support import send_report
from tests.browser.test_accessibility import BLOCKING_IMPACTS, _run_axe
from tests.browser.test_browser_pages import sign_in
from tests.multinode.harness import NodeUser

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _blocking(page: Page) -> list[str]:
    return [
        f"{v['id']}: {' '.join(str(t) for n in v['nodes'] for t in n['target'])}"
        for v in _run_axe(page)
        if v["impact"] in BLOCKING_IMPACTS
    ]


def _fits(page: Page) -> bool:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return bool(width <= inner)


def test_the_form_works_without_javascript_on_a_phone(new_context: CreateContextCallback) -> None:
    page = new_context(java_script_enabled=False, viewport=PHONE).new_page()
    page.set_content('<p id="probe">static</p><script>probe.textContent = "ran"</script>')
    expect(page.locator("#probe")).to_have_text("static")
    # A date in the future: refused, the field marked and described, nothing lost.
    page.goto("/report")
    page.check("input[name=category][value=EVICTION]")
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    page.fill("#occurred_on", tomorrow)
    page.fill("#description", "Bailiffs removed our neighbours without a court order.")
    page.click("#report-form button[type=submit]")
    field = page.locator("#occurred_on")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", re.compile("occurred_on-error"))
    expect(page.locator("#occurred_on-error")).to_contain_text("future")
    expect(page.locator("#description")).to_have_value(
        "Bailiffs removed our neighbours without a court order."
    )
    assert _fits(page)
    # Corrected: acknowledged with a reference.
    page.fill("#occurred_on", datetime.now(UTC).date().isoformat())
    page.click("#report-form button[type=submit]")
    expect(page.locator("#reference")).to_have_text(re.compile(r"^CR-[0-9A-Z]{8}$"))
    assert _fits(page)


def test_a_script_in_a_report_never_runs(page: Page, node_official: NodeUser) -> None:
    payload = (
        '<img src=x onerror="document.title=\'owned\'"> <script>document.title="owned"</script>'
    )
    send_report(page, "Smoke all night near the school. " + payload)
    sign_in(page, node_official)
    page.goto("/community/reports")
    page.locator("#community-reports tbody a").first.click()
    expect(page.locator("#report-description")).to_contain_text("<script>")
    assert page.title() != "owned"


def test_community_pages_pass_axe_in_six_languages(
    browser: Browser, base_url: str, node_official: NodeUser
) -> None:
    problems: list[str] = []
    for language in SUPPORTED_LOCALES:
        context = browser.new_context(base_url=base_url, locale=language, viewport=PHONE)
        try:
            page = context.new_page()
            page.goto("/report")
            problems += [f"{language} form: {p}" for p in _blocking(page)]
            page.click("#report-form button[type=submit]")  # empty: every error shown
            expect(page.locator("[aria-invalid=true]").first).to_be_visible()
            problems += [f"{language} form errors: {p}" for p in _blocking(page)]
            if not _fits(page):
                problems.append(f"{language} form errors: scrolls sideways at 390 px")
            if language == SUPPORTED_LOCALES[0]:
                send_report(page, "No water since Monday in the whole building.")
                problems += [f"{language} thanks: {p}" for p in _blocking(page)]
            sign_in(page, node_official)
            for path in ("/community/reports", "/community/reports/1"):
                page.goto(path)
                problems += [f"{language} {path}: {p}" for p in _blocking(page)]
                if not _fits(page):
                    problems.append(f"{language} {path}: scrolls sideways at 390 px")
        finally:
            context.close()
    assert problems == []
