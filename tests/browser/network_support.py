"""The pages that only exist between two nodes, audited by ``test_network_scenario.py``.

Shared by that file (which visits them on its real twinned cities) and by the route check of
``test_accessibility.py`` (which must know that these endpoints are audited, not forgotten).
A separate module so neither test file imports the other's module-level fixtures.
"""

from __future__ import annotations

# Endpoint -> path, filled in with the ids the scenario created: the twin (``{twin}``), the
# review (``{review}``) and the mentoring relationship (``{rel}``). ``who`` of each page is
# the user that may open it: the reviewed city's official, or the secretariat's chair.
CITY_PAGES: dict[str, str] = {
    "network_web.peer_page": "/peers/{twin}?period=2025",
    "reviews_web.workspace": "/reviews/{review}",
    "reviews_web.respond": "/reviews/{review}/respond",
    "reviews_web.follow_up": "/reviews/{review}/follow-up",
    "mentoring_web.relationship_page": "/mentoring/{rel}",
    "mentoring_web.action_plan_page": "/mentoring/{rel}/action-plan",
    "mentoring_web.agreement_page": "/mentoring/{rel}/agreement",
    "mentoring_web.closure_report_page": "/mentoring/{rel}/closure-report",
}
# Only the chair of a review, on its home node (the secretariat), opens the chair's panel.
CHAIR_PAGES: dict[str, str] = {
    "reviews_web.chair": "/reviews/{review}/chair",
}
NETWORK_PAGES: frozenset[str] = frozenset(CITY_PAGES) | frozenset(CHAIR_PAGES)
