"""Who may do what (``node.permissions``), as an explicit hand-written table.

The expected answers are written out here from the rules in the permissions module's comments
and ``docs/`` (officials vouch for figures, only administrators manage users and the trust
anchor, the secretariat's staff run the network), not derived from ``PERMISSIONS`` itself, so
that widening or narrowing one permission fails a test. ``require``'s refusals are checked by
status and machine-readable code.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from node.errors import AuthenticationRequiredError, PermissionDeniedError
from node.permissions import (
    CITY_ROLES,
    OPERATOR,
    PERMISSIONS,
    SECRETARIAT_ROLES,
    allowed,
    require,
)

ALL = set(SECRETARIAT_ROLES)

# permission -> the roles that hold it (written by hand).
EXPECTED: dict[str, set[str]] = {
    "catalogue.write": {"admin", "official"},
    "results.write": {"admin", "official", "data_collector"},
    "results.validate": {"admin", "official"},
    "results.read_unpublished": ALL,
    "targets.write": {"admin", "official"},
    "evidence.write": {"admin", "official", "data_collector", "cso_partner"},
    "evidence.publish": {"admin", "official"},
    "budget.write": {"admin", "official"},
    "users.manage": {"admin"},
    "network.manage": {"admin", "official", "secretariat"},
    "summaries.publish": {"admin", "official"},
    "network.status": {"admin", "official", "secretariat"},
    "trust.manage": {"admin"},
    "members.manage": {"admin", "secretariat"},
    "catalogue.publish": {"admin", "secretariat"},
    "benchmarks.manage": {"admin", "secretariat"},
    "mentoring.view": {"admin", "official", "reviewer"},
    # community reports (issue 16): CSO partners and officials moderate, and alone see contacts
    "community.moderate": {"admin", "official", "cso_partner"},
    # civil-society parallel figures (issue 16): the CSO's own statement, never an official's
    "cso_figures.write": {"admin", "cso_partner"},
}


@dataclass
class FakeUser:
    """A stand-in with the three attributes the checks read (a User row needs a database)."""

    role: str
    active: bool = True
    email: str = "someone@example.org"


def test_the_roles() -> None:
    assert set(CITY_ROLES) == {
        "admin",
        "official",
        "data_collector",
        "cso_partner",
        "reviewer",
        "viewer",
    }
    assert set(SECRETARIAT_ROLES) == set(CITY_ROLES) | {"secretariat"}


def test_the_table_names_exactly_the_expected_permissions() -> None:
    assert set(PERMISSIONS) == set(EXPECTED)


@pytest.mark.parametrize("permission", sorted(EXPECTED))
def test_every_role_against_every_permission(permission: str) -> None:
    for role in sorted(ALL):
        user = FakeUser(role)
        assert allowed(user, permission) is (role in EXPECTED[permission]), (role, permission)
        if role in EXPECTED[permission]:
            assert require(user, permission) is user
        else:
            with pytest.raises(PermissionDeniedError) as refused:
                require(user, permission)
            assert refused.value.status == 403
            assert refused.value.code == "role_not_allowed"
            assert f"'{role}'" in refused.value.detail and permission in refused.value.detail


def test_an_inactive_user_holds_no_permission() -> None:
    admin = FakeUser("admin", active=False)
    for permission in EXPECTED:
        assert allowed(admin, permission) is False
        with pytest.raises(PermissionDeniedError) as refused:
            require(admin, permission)
        assert refused.value.code == "role_not_allowed"


def test_no_user_is_asked_to_sign_in() -> None:
    assert allowed(None, "results.write") is False
    with pytest.raises(AuthenticationRequiredError) as refused:
        require(None, "results.write")
    assert refused.value.status == 401
    assert refused.value.code == "authentication_required"
    assert refused.value.detail == "Sign in or send 'Authorization: Bearer <token>' to do this."


def test_the_operator_is_an_active_administrator() -> None:
    assert (OPERATOR.role, OPERATOR.active, OPERATOR.email) == ("admin", True, "operator")
    assert require(OPERATOR, "trust.manage") is OPERATOR
    assert require(OPERATOR, "users.manage") is OPERATOR


def test_an_unknown_permission_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        allowed(FakeUser("admin"), "nonexistent.permission")
