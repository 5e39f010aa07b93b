"""The community's derived figures keep the equality gaps' group counts exact (issue 14): a
recount writes them, an un-verified report deletes a district's figure, and each time
``results_group_counts`` equals the rule written over the stored figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from node import data_version
from tests.api.test_group_counts import plain_counts, stored_counts
from tests.community.test_moderation import moderate, reports
from tests.community.test_reports import submit_sms
from tests.support import Caller
from tests.web.test_dashboard_cache import CSRF
from tests.web.test_pages import login


def test_derived_figures_and_their_deletion_keep_the_counts_exact(
    cclient: FlaskClient, cdb: Callable[[], Any], make_user: Callable[..., Caller]
) -> None:
    official = make_user("official")
    texts = [
        ("EVICTION D01 2026-02-03 family of five removed", "+2547000001"),
        ("EVICTION D02 2026-02-14 squatters removed by police", "+2547000004"),
    ]
    refs = [submit_sms(cclient, text, f"SM-g{i}", phone) for i, (text, phone) in enumerate(texts)]
    ids = {ref: r.id for ref, r in reports(cdb).items()}
    for ref in refs:
        assert moderate(cclient, official, ids[ref], "verified").status_code == 200
    # Derived figures are validated: officials count two districts in February, the public none.
    with cdb() as session:
        assert stored_counts(session) == {("CR-EVICTION", "2026-02", "official", "DISTRICT"): 2}
        assert stored_counts(session) == plain_counts(session)
    # D02's only report is rejected: its figure is deleted, and its group with it.
    moderate(cclient, official, ids[refs[1]], "rejected", reason="Was a lawful clearance.")
    with cdb() as session:
        assert stored_counts(session) == {("CR-EVICTION", "2026-02", "official", "DISTRICT"): 1}
        assert stored_counts(session) == plain_counts(session)
    # The last report of the month goes too: every figure of February is deleted and nothing
    # is written (the recount of the deletion alone must empty the counts).
    moderate(cclient, official, ids[refs[0]], "rejected", reason="Not an eviction.")
    with cdb() as session:
        assert stored_counts(session) == {}
        assert stored_counts(session) == plain_counts(session)


def test_the_dashboard_drops_a_derived_figure_deleted_with_its_last_report(
    capp: Flask, cclient: FlaskClient, cdb: Callable[[], Any], make_user: Callable[..., Caller]
) -> None:
    """The deletion of derived figures declares its indicator (node.data_version): the
    dashboard's part kept for it before is not served after (issue 14)."""
    official = make_user("official")
    browser = capp.test_client()
    login(browser, official)
    ref = submit_sms(
        cclient, "EVICTION D01 2026-02-03 family of five removed", "S-1", "+2547000001"
    )
    report_id = reports(cdb)[ref].id
    assert moderate(cclient, official, report_id, "verified").status_code == 200
    before = browser.get("/").get_data(as_text=True)
    assert 'data-indicator="CR-EVICTION"' in before  # the derived figure is on the page, kept
    # Its only report is rejected: every figure of the month is deleted, nothing is written.
    moderate(cclient, official, report_id, "rejected", reason="Not an eviction.")
    after = browser.get("/").get_data(as_text=True)
    assert '<tr data-indicator="CR-EVICTION"' not in after
    for answers in (data_version.ANSWERS, data_version.PAGES, data_version.PARTS):
        answers.clear()
    assert CSRF.sub("", browser.get("/").get_data(as_text=True)) == CSRF.sub("", after)
