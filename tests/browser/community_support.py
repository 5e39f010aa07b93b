"""A community report sent through the public form in a browser (the audit and the tests)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Page, expect


def send_report(page: Page, description: str = "Water was cut off in our whole street.") -> str:
    """Fill the public form (the whole city, today) and return the reference it acknowledges."""
    page.goto("/report")
    page.check("input[name=category][value=WATER]")
    page.select_option("#district", "_T")
    page.fill("#occurred_on", datetime.now(UTC).date().isoformat())
    page.fill("#description", description)
    page.click("#report-form button[type=submit]")
    reference = page.locator("#reference")
    expect(reference).to_have_text(re.compile(r"^CR-[0-9A-Z]{8}$"))
    return reference.inner_text()
