"""Issue 15's figures, as an official lives them in a real Chromium against ``hrcnet serve``.

An official imports a file with one bad row and sees the error on that row, fixes the file,
enters a value, corrects a published figure (refused without a reason, then given one), reads
the figure's history, publishes the period, and a later correction names the signed summary it
affects. A percentage indicator is used so the file's bad row (150 %) breaks the unit rule, and
one the other browser modules do not touch (they share the node).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_browser_pages import sign_in
from tests.multinode.harness import NodeUser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "figures"
PERCENT = "HRC-EDU-03"  # percent, by DISTRICT

BAD_FILE = (
    "indicator,period,value,status\n"
    f"{PERCENT},2022,18.9,published\n"
    f"{PERCENT},2023,19.2,published\n"
    f"{PERCENT},2024,150,published\n"
)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def upload(page: Page, text: str) -> None:
    page.goto("/import")
    page.set_input_files(
        "#file", files=[{"name": "figures.csv", "mimeType": "text/csv", "buffer": text.encode()}]
    )
    page.locator("#import-form button[type=submit]").click()


def enter(page: Page, period: str, value: str, status: str, reason: str = "") -> None:
    page.goto(f"/enter?indicator={PERCENT}")
    form = page.locator("#entry-form")
    form.locator("#period").fill(period)
    form.locator("#value").fill(value)
    form.locator("#status").select_option(status)
    if reason:
        form.locator("#reason").fill(reason)
    form.locator("button[type=submit]").click()


def test_an_official_imports_fixes_enters_corrects_and_publishes(
    page: Page, node_official: NodeUser
) -> None:
    sign_in(page, node_official)

    upload(page, BAD_FILE)
    bad_row = page.locator("#import-errors tr#row-4")
    expect(bad_row).to_contain_text("between 0 and 100")
    expect(page.locator("#import-errors tbody tr")).to_have_count(1)  # only the bad row
    shot(page, "1-import-error")

    upload(page, BAD_FILE.replace("2024,150", "2024,19.6"))
    expect(page.locator("#import-report")).to_contain_text("3 new, 0 changed, 0 unchanged")

    enter(page, "2025", "20.1", "validated")
    expect(page.locator(".flash.success").first).to_contain_text(f"Saved {PERCENT} for 2025")

    # A published figure: refused without a reason, the message beside the reason field.
    enter(page, "2023", "19.4", "published")
    reason = page.locator("#entry-form #reason")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#reason-error")).to_contain_text("say why it changes")
    expect(reason).to_be_focused()
    shot(page, "2-reason-needed")
    reason.fill("Census correction")
    page.locator("#entry-form #value").fill("19.4")
    page.locator("#entry-form button[type=submit]").click()
    expect(page.locator(".flash.success").first).to_contain_text(f"Saved {PERCENT} for 2023")

    page.get_by_role("link", name="See the history of this figure").click()
    history = page.locator("#figure-history")
    expect(history).to_contain_text("Census correction")
    expect(history.locator("tbody tr").first).to_contain_text(
        re.compile(r"19\.2 \(published\)\s*→\s*19\.4 \(published\)")
    )
    shot(page, "3-history")

    page.goto("/peers")
    page.locator("#publish-form #period").fill("2023")
    page.locator("#publish-form button[type=submit]").click()
    # The preview of exactly what will be signed and for whom, then sign and publish.
    expect(page).to_have_url(re.compile(r"/summaries/preview\?period=2023"))
    page.locator("#publish-form button[type=submit]").click()
    expect(page.locator(".flash.success").first).to_contain_text("Summary for 2023 signed")

    # After publication a correction says which signed summary still holds the old value.
    enter(page, "2023", "19.5", "published", reason="Late returns from one district")
    expect(page.locator(".flash.success", has_text="signed summary of 2023")).to_have_count(1)
    page.goto(f"/catalogue/{PERCENT}")
    table = page.locator("#history")
    expect(table).to_contain_text("Late returns from one district")
    expect(table).to_contain_text("next publication of 2023")
    shot(page, "4-indicator-history")
