"""A running ``hrcnet demo`` in headless Chromium, as a new user meets it.

An official of Gent signs in with the login ``network.json`` lists and sees a twin's figures in
the comparison (labelled as sample data), the city's benchmark position with its chart, a review
task, the mentoring space and a reminder; every city's public page renders its published
results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.multinode.test_demo import BUILD_TIMEOUT_S, DemoProcess, free_port_base

pytestmark = [pytest.mark.browser, pytest.mark.multinode]


@pytest.fixture(scope="module")
def demo_table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    cwd = tmp_path_factory.mktemp("demo-browser")
    demo = DemoProcess(cwd, "--port-base", free_port_base())
    try:
        demo.wait_for("Serving.", BUILD_TIMEOUT_S)
        yield json.loads((cwd / "demo-data" / "network.json").read_text())
        demo.interrupt()
    finally:
        demo.close()


def _node(table: list[dict[str, Any]], city_id: str) -> dict[str, Any]:
    return next(row for row in table if row["city_id"] == city_id)


def _sign_in(page: Page, login: dict[str, str]) -> None:
    page.goto("/login")
    page.fill("#email", login["email"])
    page.fill("#password", login["password"])
    page.click("main form button[type=submit]")
    expect(page.locator(".who")).to_contain_text(login["email"])


def test_an_official_sees_the_network_at_work(
    browser: Browser, demo_table: list[dict[str, Any]], tmp_path: Path
) -> None:
    gent = _node(demo_table, "be-gent")
    official = next(login for login in gent["logins"] if login["role"] == "official")
    context = browser.new_context(base_url=gent["url"])
    try:
        page = context.new_page()
        _sign_in(page, official)
        expect(page.locator("#sample-data-note")).to_be_visible()  # Gent's figures are samples

        page.goto("/peers/it-padova?period=2020")
        comparison = page.locator("#comparison")
        expect(comparison).to_contain_text("HRC-HOU-04")
        expect(comparison).to_contain_text("Padova")
        expect(page.locator("#twin-sample-note")).to_be_visible()

        page.goto("/benchmarks/HRC-HOU-04")
        expect(page.locator("main")).to_contain_text(re.compile(r"Rank \d of 4"))
        expect(page.locator("figure.chart svg").first).to_be_visible()

        page.goto("/reviews")
        expect(page.locator("main")).to_contain_text("Housing and homelessness 2020")

        page.goto("/mentoring")
        expect(page.locator("main")).to_contain_text("Housing first")

        page.goto("/notifications")
        expect(page.locator("main")).to_contain_text("Housing and homelessness 2020")
        page.screenshot(path=str(tmp_path / "notifications.png"))
    finally:
        context.close()


@pytest.mark.parametrize(
    ("city_id", "shown"),
    [
        ("us-los-angeles", "LA-11-1-1-PT"),
        ("be-gent", "HRC-HOU-04"),
        ("it-padova", "HRC-HOU-04"),
        ("ke-nairobi", "HRC-HOU-04"),
    ],
)
def test_each_city_public_page_renders_its_published_results(
    browser: Browser, demo_table: list[dict[str, Any]], city_id: str, shown: str
) -> None:
    node = _node(demo_table, city_id)
    context = browser.new_context(base_url=node["url"])
    try:
        page = context.new_page()
        response = page.goto("/")
        assert response is not None and response.status == 200
        expect(page.locator("main")).to_contain_text(shown)
        note = page.locator("#sample-data-note")
        if city_id == "us-los-angeles":
            expect(note).to_have_count(0)  # real figures
        else:
            expect(note).to_be_visible()
    finally:
        context.close()
