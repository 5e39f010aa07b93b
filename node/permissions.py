"""Who may do what. One table, checked by every write (API, pages and CLI alike)."""

from __future__ import annotations

from dataclasses import dataclass

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
    # twinning and publishing commit the city towards its partners
    "network.manage": frozenset({"admin", "official", "secretariat"}),
    "summaries.publish": frozenset({"admin", "official"}),
    "network.status": frozenset({"admin", "official", "secretariat"}),
    # which secretariat the node trusts (its trust anchor): administrators and the operator only
    "trust.manage": frozenset({"admin"}),
    # the secretariat's own staff run the network: members, catalogue releases, benchmarks
    "members.manage": frozenset({"admin", "secretariat"}),
    "catalogue.publish": frozenset({"admin", "secretariat"}),
    "benchmarks.manage": frozenset({"admin", "secretariat"}),
}

# Mentoring (peer_review.mentoring): what a local role makes a user in a relationship of this
# city. A "lead" commits the city (proposals, agreement and closure signatures, state changes)
# and becomes the mentor_lead or mentee_lead of the city's side; a "member" takes part
# (sessions, notes, action plan). Every other role takes no part and sees nothing of it.
MENTORING_ROLES: dict[str, tuple[str, ...]] = {
    "admin": ("lead", "member"),
    "official": ("lead", "member"),
    "reviewer": ("member",),
}
PERMISSIONS["mentoring.view"] = frozenset(MENTORING_ROLES)
# Community reports (node.community): CSO partners and officials moderate; they alone see a
# reporter's contact and the exact place.
PERMISSIONS["community.moderate"] = frozenset({"admin", "official", "cso_partner"})
# Civil-society parallel figures (node.services.cso_figures): the CSO's own statement, so only
# CSO partners (and administrators) write them, each only their own; officials may not, since
# a figure an official could edit would no longer be civil society's independent word.
PERMISSIONS["cso_figures.write"] = frozenset({"admin", "cso_partner"})


@dataclass(frozen=True)
class Operator:
    """The node's operator acting from the command line (or the demo): an administrator.

    Not a database user, so nothing is recorded as "entered by" it; it exists so that the CLI
    goes through the same permission checks as everyone else instead of bypassing them.
    """

    role: str = "admin"
    active: bool = True
    email: str = "operator"


OPERATOR = Operator()
Actor = User | Operator


def allowed(user: Actor | None, permission: str) -> bool:
    return user is not None and user.active and user.role in PERMISSIONS[permission]


def require(user: Actor | None, permission: str) -> Actor:
    """Return the user if they hold ``permission``; raise 401 (no user) or 403 otherwise."""
    if user is None:
        raise AuthenticationRequiredError(
            "Sign in or send 'Authorization: Bearer <token>' to do this."
        )
    if not allowed(user, permission):
        raise PermissionDeniedError(
            f"Your role '{user.role}' may not do this ({permission}).", code="role_not_allowed"
        )
    return user
