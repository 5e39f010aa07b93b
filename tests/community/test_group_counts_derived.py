"""The community's derived figures keep the equality gaps' group counts exact (issue 14): a
recount writes them, an un-verified report deletes a district's figure, and each time
``results_group_counts`` equals the rule written over the stored figures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from tests.api.test_group_counts import plain_counts, stored_counts
from tests.community.test_moderation import moderate, reports
from tests.community.test_reports import submit_sms
from tests.support import Caller


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
