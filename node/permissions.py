"""Who may do what. One table, checked by every write (API, pages and CLI alike)."""

from __future__ import annotations

from node.errors import AuthenticationRequiredError, PermissionDeniedError
from node.models import User

CITY_ROLES = ("admin", "official", "data_collector", "cso_partner", "reviewer", "viewer")
SECRETARIAT_ROLES = (*CITY_ROLES, "secretariat")

PERMISSIONS: dict[str, frozenset[str]] = {
    # the catalogue is co-created, but only accountable officials change it
    "catalogue.write": frozenset({"admin", "official"}),
    # data collectors enter figures; only officials may vouch for them (validate, publish)
    "results.write": frozenset({"admin", "official", "data_collector"}),
    "results.validate": frozenset({"admin", "official"}),
    "results.read_unpublished": frozenset(SECRETARIAT_ROLES),
    "targets.write": frozenset({"admin", "official"}),
    "evidence.write": frozenset({"admin", "official", "data_collector", "cso_partner"}),
    "evidence.publish": frozenset({"admin", "official"}),
    "budget.write": frozenset({"admin", "official"}),
    "users.manage": frozenset({"admin"}),
}


def allowed(user: User | None, permission: str) -> bool:
    return user is not None and user.active and user.role in PERMISSIONS[permission]


def require(user: User | None, permission: str) -> User:
    """Return the user if they hold ``permission``; raise 401 (no user) or 403 otherwise."""
    if user is None:
        raise AuthenticationRequiredError(
            "Sign in or send 'Authorization: Bearer <token>' to do this.")
    if not allowed(user, permission):
        raise PermissionDeniedError(
            f"Your role '{user.role}' may not do this ({permission}).", code="role_not_allowed")
    return user
