"""The reviewed city's civil-society figures in the review workspace (issue 16).

Beside the pinned official values, in a table of their own labelled as civil society's, from
what each node holds: the reviewed city its own published figures; a reviewer that is its twin
what the CSO agreed to share with it; a reviewer that is not its twin nothing (it received
nothing). In-process federation: a secretariat chairs, Gent is reviewed, Lyon and Padova review.
"""

from __future__ import annotations

import re

from tests.federation.conftest import twin
from tests.federation.test_cso_carriage import ORGANISATION, cso_partner, publish_figure
from tests.web.test_review_pages import Cycle, cycle, in_review, signed_in, staff

__all__ = ["cycle"]  # the fixture, imported for pytest


def cso_tables(html: str) -> list[str]:
    return re.findall(r'<table[^>]*id="cso-2025".*?</table>', html, re.S)


def values_table(html: str) -> str:
    match = re.search(r'<table[^>]*id="values-2025".*?</table>', html, re.S)
    assert match, "no table of values under review"
    return match.group(0)


def test_the_workspace_shows_the_reviewed_citys_cso_figures_beside_never_among(
    cycle: Cycle,
) -> None:
    twin(cycle.gent, cycle.padova)  # Padova is Gent's twin; Lyon is not
    cso = cso_partner(cycle.gent)
    figure = publish_figure(cycle.gent, cso, share_with_twins=True)
    assert figure["shared_with"] == ["it-padova"]
    cycle.gent.deliver()
    rid = in_review(cycle)

    for node in (cycle.gent, cycle.padova):
        html = signed_in(node, staff(node)).get(f"/reviews/{rid}").get_data(as_text=True)
        assert "140.5" not in values_table(html)  # the official values stay the city's
        [table] = cso_tables(html)
        assert ORGANISATION in table and "140.5" in table, node.city_id
        assert figure["statement_sha256"][:12] in table
        assert "Figures from civil society in be-gent" in html

    lyon = signed_in(cycle.lyon, staff(cycle.lyon)).get(f"/reviews/{rid}").get_data(as_text=True)
    assert "values-2025" in lyon and cso_tables(lyon) == [] and ORGANISATION not in lyon
