"""The pages in a real headless Chromium against a real ``hrcnet serve`` node.

The test-client page tests (tests/web) already cover the rules; these check what only a browser
shows: that the forms as rendered can be filled and submitted (CSRF cookie and token included),
that redirects land where they should, and that everything works with JavaScript switched off.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_playwright import CreateContextCallback

from tests.multinode.harness import NodeProcess, NodeUser

pytestmark = pytest.mark.browser

INDICATOR = "HRC-HOU-01"
# Wording differs a little between the entry form and the importer; both say this much.
NOT_A_NUMBER = re.compile(r"not a (decimal )?number")
# Every dimension of HRC-HOU-01 other than SEX stays at its default, "_T" (total).


def sign_in(page: Page, who: NodeUser) -> None:
    """Sign in through the login form and land on the dashboard."""
    page.goto("/login")
    page.fill("#email", who.email)
    page.fill("#password", who.password)
    page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".who")).to_contain_text(who.email)


def enter_figure(page: Page, *, value: str, sex: str, status: str = "validated") -> None:
    """Choose HRC-HOU-01 on the data-entry page and submit one figure for 2025."""
    page.goto("/enter")
    page.select_option("#indicator", INDICATOR)
    page.click("form.filters button[type=submit]")
    form = page.locator("#entry-form")
    expect(form).to_be_visible()
    form.locator("#period").fill("2025")
    form.locator("#value").fill(value)
    form.locator("#dim_SEX").select_option(sex)
    form.locator("#status").select_option(status)
    form.locator("button[type=submit]").click()


def figure_row(page: Page, sex_label: str) -> str:
    """The text of the indicator page's figures row for a sex breakdown (e.g. ``Female``)."""
    page.goto(f"/catalogue/{INDICATOR}")
    # Exact label: "Male" is also a substring of "Female".
    row = page.locator("#figures tbody tr", has_text=re.compile(rf"Sex:\s*{sex_label}\b"))
    expect(row).to_have_count(1)
    return row.inner_text()


def test_sign_in_shows_the_progress_table(
    page: Page, node_official: NodeUser, tmp_path: Path
) -> None:
    sign_in(page, node_official)
    # A fresh node: every indicator waits in the "without figures yet" list.
    waiting = page.locator("details.nodata")
    expect(waiting).to_be_visible()
    assert waiting.locator("li").count() >= 20  # the core catalogue
    enter_figure(page, value="12.5", sex="_T", status="validated")
    page.goto("/")
    table = page.locator("table#progress")
    expect(table).to_be_visible()
    expect(table.locator(f'tbody tr[data-indicator="{INDICATOR}"]')).to_have_count(1)

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    print(f"dashboard screenshot: {len(data)} bytes at {shot}")
    assert len(data) > 10_000, f"suspiciously small screenshot ({len(data)} bytes): blank page?"


def test_enter_a_figure_and_see_it_on_the_indicator_page(
    page: Page, node_official: NodeUser
) -> None:
    sign_in(page, node_official)
    enter_figure(page, value="12.5", sex="F")
    expect(page.locator(".flash.success")).to_contain_text(f"Saved {INDICATOR} for 2025")

    row = figure_row(page, "Female")
    assert "12.5" in row, row
    expect(page.locator("#figures thead")).to_contain_text("2025")


def test_a_bad_value_shows_the_error_and_saves_nothing(
    page: Page, node_official: NodeUser, browser_node: NodeProcess
) -> None:
    sign_in(page, node_official)
    enter_figure(page, value="twelve", sex="F", status="draft")
    alert = page.locator("#main [role=alert]")
    expect(alert).to_contain_text("Nothing was saved")
    # The message sits on the field it is about, and quotes what was typed.
    problem = alert.locator(
        "li", has=page.locator("strong", has_text=re.compile("^value$", re.IGNORECASE))
    )
    expect(problem).to_contain_text(NOT_A_NUMBER)
    expect(problem).to_contain_text("'twelve'")
    # What the user typed is kept in the form so it can be corrected.
    expect(page.locator("#entry-form #value")).to_have_value("twelve")
    listed = browser_node.api(
        "GET", f"/api/v1/results?indicator={INDICATOR}", token=node_official.token
    ).json()
    assert all(item["value"] != "twelve" for item in listed["items"])


def test_import_with_one_bad_row_lists_row_and_column(
    page: Page, node_official: NodeUser, browser_node: NodeProcess
) -> None:
    sign_in(page, node_official)
    page.goto("/import")
    csv = (
        "indicator,period,value,SEX\n"
        f"{INDICATOR},2024,10.5,M\n"  # row 2: fine
        f"{INDICATOR},2024,12;5,F\n"  # row 3: not a number
    ).encode()
    form = page.locator("#import-form")
    form.locator("#file").set_input_files(
        files=[{"name": "figures.csv", "mimeType": "text/csv", "buffer": csv}]
    )
    form.locator("#layout").select_option("own")
    form.locator("button[type=submit]").click()

    errors = page.locator("table#import-errors tbody tr")
    expect(errors).to_have_count(1)
    cells = errors.first.locator("td")
    expect(cells.nth(0)).to_have_text("3")
    expect(cells.nth(1)).to_have_text("value")
    expect(cells.nth(2)).to_contain_text(NOT_A_NUMBER)
    # All or nothing: the good row 2 was not written either.
    listed = browser_node.api(
        "GET", f"/api/v1/results?indicator={INDICATOR}&period=2024", token=node_official.token
    ).json()
    assert listed["items"] == []


def test_pages_work_without_javascript(
    new_context: CreateContextCallback, node_official: NodeUser
) -> None:
    # pytest-playwright's factory: same base_url as the other tests, closed after the test.
    page = new_context(java_script_enabled=False).new_page()
    # Prove the switch works: an inline script must not run in this context.
    page.set_content('<p id="probe">static</p><script>probe.textContent = "ran"</script>')
    expect(page.locator("#probe")).to_have_text("static")

    sign_in(page, node_official)
    expect(page.locator("h1")).to_contain_text("Progress towards our human rights targets")
    enter_figure(page, value="7.25", sex="M")
    expect(page.locator(".flash.success")).to_contain_text(f"Saved {INDICATOR} for 2025")
    row = figure_row(page, "Male")
    assert "7.25" in row, row
