"""A running ``hrcnet demo`` as a new user meets it: in Chromium, then stopped and restarted.

An official of Gent signs in with the login ``network.json`` lists and sees a twin's figures in
the comparison (labelled as sample data), the city's benchmark position with its chart, a review
task, the mentoring space and a reminder; every city's public page renders its published
results.

Then, on the same network (building one takes minutes on two cores, so the module builds it
once; the browser tests only read): after SIGINT no process of the network remains and the data
dirs are intact; a second start reuses them (serving in seconds, no rebuild) and keeps a value
entered before the stop. That last test needs no browser: without Chromium it still runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from node.demo.driver import child_env
from tests.multinode.harness import processes_mentioning
from tests.multinode.test_demo import BUILD_TIMEOUT_S, DemoProcess, free_port_base

pytestmark = pytest.mark.multinode

REUSE_BOUND_S = 45.0  # "serving in seconds": five interpreters start on two busy cores
STOP_BOUND_S = 15.0  # 10 s for the nodes, plus the demo's own exit


@dataclass
class RunningDemo:
    """The module's demo network: the directory it runs in, its process, its network table."""

    cwd: Path
    process: DemoProcess
    table: list[dict[str, Any]]

    @property
    def root(self) -> Path:
        return self.cwd / "demo-data"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    cwd = tmp_path_factory.mktemp("demo-browser")
    process = DemoProcess(cwd, "--port-base", free_port_base())
    try:
        process.wait_for("Serving.", BUILD_TIMEOUT_S)
        table = json.loads((cwd / "demo-data" / "network.json").read_text())
        yield RunningDemo(cwd, process, table)
        if process.process.poll() is None:  # the restart test stops it itself
            process.interrupt()
    finally:
        process.close()
        # Whatever happened, nothing of the network may outlive the module.
        for pid, _cmd in processes_mentioning(str(cwd / "demo-data")):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def demo_table(demo: RunningDemo) -> list[dict[str, Any]]:
    return demo.table


def _node(table: list[dict[str, Any]], city_id: str) -> dict[str, Any]:
    return next(row for row in table if row["city_id"] == city_id)


def _sign_in(page: Page, login: dict[str, str]) -> None:
    page.goto("/login")
    page.fill("#email", login["email"])
    page.fill("#password", login["password"])
    page.click("main form button[type=submit]")
    expect(page.locator(".who")).to_contain_text(login["email"])


@pytest.mark.browser
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


@pytest.mark.browser
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


def _api_token(data_dir: str, email: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "node", "token", "create", data_dir, "--email", email],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=True,
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()][-1]


# Last in the module: it stops the network the tests above use.
def test_stop_and_restart_reuses_the_network_and_keeps_entered_values(demo: RunningDemo) -> None:
    root, first, table = demo.root, demo.process, demo.table
    try:
        assert [row["city_id"] for row in table] == [
            "hrc-secretariat", "us-los-angeles", "be-gent", "it-padova", "ke-nairobi",
        ]  # fmt: skip
        gent = next(row for row in table if row["city_id"] == "be-gent")
        assert {login["role"] for login in gent["logins"]} == {
            "admin", "official", "data_collector", "cso_partner", "reviewer", "viewer",
        }  # fmt: skip
        official = next(login for login in gent["logins"] if login["role"] == "official")
        # A value a user enters while the demo runs (a period the build never touched).
        token = _api_token(gent["data_dir"], official["email"])
        # Confirmed: the sample series may hold a 2022 value far from 14.5 (issue 15's check).
        entered = {
            "indicator": "HRC-HOU-02",
            "period": "2023",
            "value": "14.5",
            "confirm_outlier": True,
        }
        with requests.Session() as http:
            http.trust_env = False
            response = http.post(
                gent["url"] + "/api/v1/results",
                json=[entered],
                headers={"Authorization": f"Bearer {token}"},
                timeout=15,
            )
            assert response.status_code == 201, response.text
        keys_before = {
            row["city_id"]: (Path(row["data_dir"]) / "signing_key.pem").read_bytes()
            for row in table
        }
        stop_seconds = first.interrupt()
        assert first.process.returncode == 0, first.output
        assert stop_seconds < STOP_BOUND_S, first.output
        assert processes_mentioning(str(root)) == [], first.output
    finally:
        first.close()
    # The data dirs are intact.
    for row in table:
        data_dir = Path(row["data_dir"])
        assert (data_dir / "node.toml").is_file() and (data_dir / "node.db").is_file()

    second = DemoProcess(demo.cwd)
    try:
        second.wait_for("reusing the network", 30)
        seconds = second.wait_for("Serving.", REUSE_BOUND_S)
        assert "building a network" not in second.output
        assert json.loads((root / "network.json").read_text()) == table  # same logins, same URLs
        for row in table:
            key = (Path(row["data_dir"]) / "signing_key.pem").read_bytes()
            assert key == keys_before[row["city_id"]]
        with requests.Session() as http:
            http.trust_env = False
            figures = http.get(
                gent["url"] + "/api/v1/results?indicator=HRC-HOU-02&period=2023",
                headers={"Authorization": f"Bearer {token}"},
                timeout=15,
            ).json()
        values = [f["value"] for f in figures["items"]]
        assert values == ["14.5"], figures
        second.interrupt()
        assert second.process.returncode == 0, second.output
        assert processes_mentioning(str(root)) == [], second.output
    finally:
        second.close()
    assert seconds < REUSE_BOUND_S
