"""Mentoring is one feature package that imports only the core (issue 13): ``node.db``,
``errors``, ``config``, ``runtime``, ``permissions``, ``auth``, ``models``, ``input_guard``,
``api.common``, the federation core's public face ``node.network.port``, the shared peer-review
modules, ``schemas`` and ``federation`` — never a network internal, another feature (the
secretariat, the reviews, the web pages, the services except the catalogue) or the composition
root. Every import counts, also those inside functions. On main the package does not exist and
the old modules imported ``node.network.inbox/outbox/keyring/trust/summaries`` and
``node.secretariat.models``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "peer_review" / "mentoring"

ALLOWED_NODE = {
    "node.db",
    "node.errors",
    "node.config",
    "node.runtime",
    "node.permissions",
    "node.auth",
    "node.models",
    "node.input_guard",
    "node.api.common",
    "node.network.port",
    "node.services.catalogue",
}
SHARED_PEER_REVIEW = {
    "peer_review.statemachine",
    "peer_review.refusal",
    "peer_review.deadlines",
    "peer_review.reminders",
    "peer_review.notifications",
    "peer_review.visibility",
    "peer_review.mailer",
    "peer_review.chain",
    "peer_review.models",
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from node.network import port" imports node.network.port: name the module.
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return found


def _refused(name: str) -> bool:
    top = name.split(".")[0]
    if top == "node":
        # A parent package ("node", "node.network") named by "from node.network import port".
        return (
            name not in ALLOWED_NODE
            and not any(allowed.startswith(name + ".") for allowed in ALLOWED_NODE)
            and not any(name.startswith(allowed + ".") for allowed in ALLOWED_NODE)
        )
    if top == "peer_review":
        if name in ("peer_review", "peer_review.mentoring") or name.startswith(
            "peer_review.mentoring."
        ):
            return False
        return not any(name == m or name.startswith(m + ".") for m in SHARED_PEER_REVIEW)
    return False


FILES = sorted(PACKAGE.glob("*.py"))


def test_the_package_has_the_predictable_files() -> None:
    names = {p.name for p in FILES}
    assert {"__init__.py", "models.py", "api.py", "pages.py", "forms.py", "read.py"} <= names
    assert {"inbound.py", "jobs.py", "workflow.py", "effects.py"} <= names
    assert (PACKAGE / "templates" / "mentoring" / "relationship.html").is_file()
    too_long = {p.name: n for p in FILES if (n := len(p.read_text().splitlines())) > 520}
    assert too_long == {}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_imports_only_the_core_and_the_port(path: Path) -> None:
    assert sorted(name for name in _imports(path) if _refused(name)) == []


def test_the_rule_itself_refuses_what_it_must() -> None:
    # The rule's edges, so that a permissive rule cannot pass the test above.
    for name in (
        "node.network.inbox",
        "node.network.outbox",
        "node.network.models",
        "node.secretariat.models",
        "node.services.users",
        "node.web.views",
        "node.app",
        "node.features",
        "peer_review.reviews",
        "peer_review.review_models",
        "peer_review.workflow",
    ):
        assert _refused(name), name
    for name in ("node.network.port", "node.network", "node", "peer_review.mentoring.models"):
        assert not _refused(name), name


def test_register_inbound_declares_every_mentoring_type_once() -> None:
    from marshmallow import Schema

    from node.network.port import InboundRegistry
    from node.network.registry import DuplicateRegistration
    from peer_review import mentoring, mentoring_inbound
    from schemas.mentoring import METADATA_TYPE, PAYLOAD_SCHEMAS, RELATIONSHIP_TYPES

    registry = InboundRegistry()
    mentoring.register_inbound(registry)
    assert registry.types() == sorted({*RELATIONSHIP_TYPES, METADATA_TYPE})
    for type_ in registry.types():
        route = registry.route(type_)
        assert route is not None
        assert route.accepts_stream("mentoring") and not route.accepts_stream("mentoring/x")
        assert isinstance(route.schema, Schema) and type(route.schema) is PAYLOAD_SCHEMAS[type_]
    # The transitional shim serves exactly the registered types, in the same stream.
    assert sorted(mentoring_inbound.HANDLERS) == registry.types()
    assert set(mentoring_inbound.STREAMS.values()) == {"mentoring"}
    # A second registration of the feature is refused at start-up, naming the type.
    with pytest.raises(DuplicateRegistration, match="hrc.mentoring"):
        mentoring.register_inbound(registry)
