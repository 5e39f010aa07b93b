"""The review workspace in a real headless Chromium, JavaScript off: the chair opens a review
and comments on a pinned value; the comment lands beside the value and reaches the city.

The chair's node is an in-process app of the federation fixture, served on a loopback port by
werkzeug for the length of the test (its federation traffic goes through the test router).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect
from werkzeug.serving import make_server

from tests.federation.conftest import SECRETARIAT, record
from tests.federation.test_peer_review import THEME, act, publish, sync, token_for, view
from tests.federation.test_secretariat import join

pytestmark = pytest.mark.browser

INDICATOR = "HRC-HOU-01"


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; stopped whatever happens."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="review-pages", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def test_comment_on_a_value_in_the_workspace(
    network: Any, browser: Browser, tmp_path: Path
) -> None:
    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    record(gent, "2025", {INDICATOR: "12.5"})
    pinned = publish(gent, "2025")
    draft = gent.api(
        "POST",
        "/reviews",
        {"title": "Housing 2025", "scope": {"themes": [THEME]}, "summaries": [pinned]},
    )
    rid = draft.get_json()["id"]
    act(gent, rid, "submit", token=token_for(gent, "admin"))
    sync(gent, secretariat)

    with serving(secretariat.app) as url:
        context = browser.new_context(base_url=url, java_script_enabled=False)
        try:
            page = context.new_page()
            page.goto("/login")
            page.fill("#email", f"official@{SECRETARIAT}.example")
            page.fill("#password", "correct horse battery")
            page.click("main form button[type=submit]")
            expect(page).to_have_url(re.compile(r"/$"))

            page.goto(f"/reviews/{rid}")
            expect(page.locator("h1")).to_contain_text("Housing 2025")
            row = page.locator(f'table.values tr[data-indicator="{INDICATOR}"]')
            expect(row).to_have_count(1)
            expect(row.locator("td.num")).to_contain_text("12.5")
            row.locator("details.add-comment > summary").click()
            form = row.locator("form.comment-form")
            form.locator("select[name=kind]").select_option("concern")
            form.locator("textarea[name=text]").fill("Why is the eviction rate so high?")
            form.get_by_label("the public (once adopted)").check()
            form.locator("button[type=submit]").click()

            expect(page).to_have_url(re.compile(rf"/reviews/{rid}$"))
            expect(page.locator(".flash.success")).to_contain_text("Done: Comment")
            thread = row.locator("details.thread")
            expect(thread).to_have_count(1)
            expect(thread).to_contain_text("Why is the eviction rate so high?")
            expect(thread).to_contain_text("Concern")
            expect(thread.locator(".readers")).to_contain_text("the public (once adopted)")
            page.screenshot(path=str(tmp_path / "workspace.png"), full_page=True)
        finally:
            context.close()

    # The page went through the service: anchored to the exact value, relayed to the city.
    [comment] = view(secretariat, rid)["comments"]
    assert comment["anchor"]["summary_sha256"] == pinned
    assert comment["anchor"]["indicator"] == INDICATOR and comment["anchor"]["period"] == "2025"
    assert set(comment["readers"]) == {"chair", "panel", "cur", "public"}
    sync(secretariat, gent)
    assert [c["text"] for c in view(gent, rid)["comments"]] == ["Why is the eviction rate so high?"]
