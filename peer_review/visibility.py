"""Who may read what in a review (peer_review.md, "Comments"): pure functions.

Readers are explicit per comment. A city reads a body when one of its *categories* is among the
readers; the home node (the chair) reads everything; an author always reads their own. A
reviewing city sees other reviewers' comments only once it has submitted its own review, so
that first opinions stay independent. Recommendations are the panel's until the factual check,
when the city under review sees them.
"""

from __future__ import annotations

from collections.abc import Iterable

RECOMMENDATION_ACTIONS = frozenset({"draft_recommendation", "cosign_recommendation"})
CUR_SEES_RECOMMENDATIONS = frozenset(
    {"factual_check", "awaiting_response", "responded", "follow_up", "closed"}
)
PUBLIC_STATES = frozenset({"follow_up", "closed"})


def event_readers(action: str, data_readers: Iterable[str] | None) -> list[str]:
    """The reader categories recorded in an event header."""
    if action == "comment":
        return sorted(set(data_readers or ()))
    if action in RECOMMENDATION_ACTIONS:
        return ["chair", "panel"]
    return ["network"]


def city_categories(
    city: str,
    *,
    home: str,
    cur: str,
    panel: Iterable[str],
    submitted: Iterable[str],
    home_is_secretariat: bool,
) -> set[str]:
    """The reader categories a city belongs to in one review (everyone is ``network``)."""
    categories = {"network", "public"}
    if city == home:
        categories |= {"chair", "panel", "submitted_reviewers", "cur"}
        if home_is_secretariat:
            categories.add("secretariat")
    if city == cur:
        categories.add("cur")
    if city in set(panel):
        categories.add("panel")
        if city in set(submitted):
            categories.add("submitted_reviewers")
    return categories


def may_read(
    *,
    city: str,
    action: str,
    author_city: str,
    author_role: str,
    readers: Iterable[str],
    review_state: str,
    home: str,
    cur: str,
    panel: Iterable[str],
    submitted: Iterable[str],
    home_is_secretariat: bool,
    public_outcome: bool,
) -> bool:
    """Whether ``city`` may hold the body of an event (decided on the home node)."""
    if city in (home, author_city):
        return True
    if action in RECOMMENDATION_ACTIONS:
        return city in set(panel) or (city == cur and review_state in CUR_SEES_RECOMMENDATIONS)
    if action != "comment":
        return True
    wanted = set(readers)
    if public_outcome and review_state in PUBLIC_STATES and "public" in wanted:
        return True
    submitted_set = set(submitted)
    if author_role == "reviewer" and city in set(panel) and city not in submitted_set:
        return False  # independent first opinions: nothing from other reviewers before submitting
    categories = city_categories(
        city,
        home=home,
        cur=cur,
        panel=panel,
        submitted=submitted_set,
        home_is_secretariat=home_is_secretariat,
    )
    return bool(categories & wanted)
