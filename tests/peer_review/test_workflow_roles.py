"""Who holds which review role, and what a city may claim, as hand-written tables.

``peer_review.workflow.review_roles_of`` and ``city_may_claim`` decide every role check of the
review workflow; the expected answers below are written from their rules (docs/protocol.md,
peer review: the city under review acts through its validating authority and focal points,
with observers from its civil society; the panel's cities review; the home city chairs; a
secretariat home also acts as the secretariat), not read from the code. The two precondition
builders are pinned at their edges with their reasons.
"""

from __future__ import annotations

import pytest

from peer_review.workflow import PRECONDITIONS, city_may_claim, review_roles_of

LOCAL_ROLES = (
    "admin",
    "official",
    "data_collector",
    "cso_partner",
    "reviewer",
    "viewer",
    "secretariat",
)

# (where the user's city stands, node role) -> local role -> expected review roles
CUR_ONLY = {
    "admin": {"validating_authority", "focal_point"},
    "official": {"focal_point"},
    "cso_partner": {"observer"},
}
PANEL_ONLY = {"admin": {"reviewer"}, "official": {"reviewer"}, "reviewer": {"reviewer"}}
HOME_CITY = {"admin": {"chair"}, "official": {"chair"}}
HOME_SECRETARIAT = {"admin": {"chair", "secretariat"}, "secretariat": {"chair", "secretariat"}}


@pytest.mark.parametrize("local_role", LOCAL_ROLES)
def test_roles_in_the_city_under_review(local_role: str) -> None:
    roles = review_roles_of(
        local_role,
        this_city="cur",
        node_role="city",
        review_home="home",
        review_cur="cur",
        panel=False,
    )
    assert roles == CUR_ONLY.get(local_role, set())


@pytest.mark.parametrize("local_role", LOCAL_ROLES)
def test_roles_on_a_panel_city(local_role: str) -> None:
    roles = review_roles_of(
        local_role,
        this_city="p1",
        node_role="city",
        review_home="home",
        review_cur="cur",
        panel=True,
    )
    assert roles == PANEL_ONLY.get(local_role, set())


@pytest.mark.parametrize("local_role", LOCAL_ROLES)
def test_roles_on_a_home_city_node(local_role: str) -> None:
    roles = review_roles_of(
        local_role,
        this_city="home",
        node_role="city",
        review_home="home",
        review_cur="cur",
        panel=False,
    )
    assert roles == HOME_CITY.get(local_role, set())


@pytest.mark.parametrize("local_role", LOCAL_ROLES)
def test_roles_on_a_home_secretariat_node(local_role: str) -> None:
    roles = review_roles_of(
        local_role,
        this_city="home",
        node_role="secretariat",
        review_home="home",
        review_cur="cur",
        panel=False,
    )
    assert roles == HOME_SECRETARIAT.get(local_role, set())


@pytest.mark.parametrize("local_role", LOCAL_ROLES)
def test_a_city_with_no_part_holds_no_role(local_role: str) -> None:
    for node_role in ("city", "secretariat"):
        roles = review_roles_of(
            local_role,
            this_city="elsewhere",
            node_role=node_role,
            review_home="home",
            review_cur="cur",
            panel=False,
        )
        assert roles == set()


def test_roles_add_up_when_a_city_has_several_parts() -> None:
    # The home city also on the panel: its administrator chairs and reviews.
    assert review_roles_of(
        "admin",
        this_city="home",
        node_role="city",
        review_home="home",
        review_cur="cur",
        panel=True,
    ) == {"chair", "reviewer"}
    # A secretariat home whose administrator also sits on the panel keeps all three.
    assert review_roles_of(
        "admin",
        this_city="home",
        node_role="secretariat",
        review_home="home",
        review_cur="cur",
        panel=True,
    ) == {"chair", "secretariat", "reviewer"}


# city -> roles it may claim, for home "home" (a secretariat or not), CuR "cur", panel {p1, p2}
CLAIMS = {
    "validating_authority": {"cur"},
    "focal_point": {"cur"},
    "observer": {"cur"},
    "reviewer": {"p1", "p2"},
    "chair": {"home"},
    "secretariat": {"home"},  # only when the home is a secretariat
}


@pytest.mark.parametrize("role", [*sorted(CLAIMS), "panel", "admin", ""])
@pytest.mark.parametrize("home_is_secretariat", [True, False])
def test_what_each_city_may_claim(role: str, home_is_secretariat: bool) -> None:
    for city in ("cur", "p1", "p2", "home", "stranger"):
        expected = city in CLAIMS.get(role, set())
        if role == "secretariat" and not home_is_secretariat:
            expected = False
        assert (
            city_may_claim(
                role,
                city=city,
                home="home",
                cur="cur",
                panel_cities={"p1", "p2"},
                home_is_secretariat=home_is_secretariat,
            )
            is expected
        ), (role, city)


# --- precondition predicates at their edges ---------------------------------------------------


@pytest.mark.parametrize(
    ("accepted", "minimum", "reason"),
    [
        (1, 2, "Accepted reviewers before a round can open: 1 of the 2 needed."),
        (2, 2, None),
        (3, 2, None),
        (0, 1, "Accepted reviewers before a round can open: 0 of the 1 needed."),
    ],
)
def test_enough_reviewers(accepted: int, minimum: int, reason: str | None) -> None:
    check = PRECONDITIONS["enough_reviewers"]
    assert check({"accepted_reviewers": accepted, "min_reviewers": minimum}) == reason


def test_enough_reviewers_defaults_to_none_accepted_and_one_needed() -> None:
    check = PRECONDITIONS["enough_reviewers"]
    assert check({}) == "Accepted reviewers before a round can open: 0 of the 1 needed."
    assert check({"accepted_reviewers": 1}) is None
    assert check({"min_reviewers": 0}) is None


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("pinned_summary", "has_pinned_summary"),
        ("scope", "has_scope"),
        ("questions", "questions_ok"),
        ("reviews_in", "all_reviews_in"),
        ("newer_summary", "has_newer_summary"),
        ("recommendations_cosigned", "recommendations_cosigned"),
        ("every_position", "every_position"),
        ("follow_up_reported", "follow_up_reported"),
        ("round_open", "round_open"),
    ],
)
def test_flag_preconditions_hold_only_when_their_fact_is_true(name: str, flag: str) -> None:
    check = PRECONDITIONS[name]
    assert check({flag: True}) is None
    reason = check({flag: False})
    assert isinstance(reason, str) and reason.endswith(".")
    assert check({}) == reason  # an unknown fact is not a true one
