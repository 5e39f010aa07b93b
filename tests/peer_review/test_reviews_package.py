"""The peer-review feature package keeps to its shape (issue 13).

- It imports only the core, ``node.network.port`` (the network's public face), the shared
  peer-review modules, ``schemas`` and ``federation`` — never the network's internals
  (inbox, outbox, keyring, trust, summaries …), the pages of ``node.web``, the secretariat or
  mentoring. Checked on every import statement of every module of the package, including the
  ones inside functions, read from the source (nothing is imported to check it).
- It declares its inbound types once, in their stream family, with their payload schemas.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from node.network.port import InboundRegistry
from node.network.registry import DuplicateRegistration
from peer_review import reviews
from schemas.peer_review import ReviewActionPayloadSchema, ReviewEventPayloadSchema

PACKAGE_DIR = Path(reviews.__file__).parent
OURS = ("node", "peer_review", "schemas", "federation")
ALLOWED = (
    # the core (common.md: "Shape of the code after issue 13")
    "node.db",
    "node.errors",
    "node.config",
    "node.runtime",
    "node.permissions",
    "node.auth",
    "node.models",
    "node.input_guard",
    "node.api.common",
    "node.services.catalogue",
    "node.network.port",
    # shared peer-review modules, and the package itself
    "peer_review.statemachine",
    "peer_review.refusal",
    "peer_review.workflow",
    "peer_review.chain",
    "peer_review.deadlines",
    "peer_review.reminders",
    "peer_review.notifications",
    "peer_review.visibility",
    "peer_review.mailer",
    "peer_review.tables_doc",
    "peer_review.models",
    "peer_review.reviews",
    # the wire contract and the protocol library
    "schemas",
    "federation",
)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def imported_modules(path: Path) -> set[str]:
    """Every module of ours one source file imports (``from X import Y`` names X.Y when Y is a
    module, else X), at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if _is_module(candidate) else node.module)
    return {name for name in found if name.split(".")[0] in OURS}


def _allowed(module: str) -> bool:
    return any(module == rule or module.startswith(rule + ".") for rule in ALLOWED)


def test_the_package_imports_only_the_core_and_the_network_port() -> None:
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(files) >= 10  # models, services/*, api, pages, forms, inbound, __init__
    outside = {
        f"{path.relative_to(PACKAGE_DIR)}: {module}"
        for path in files
        for module in imported_modules(path)
        if not _allowed(module)
    }
    assert outside == set()


@pytest.mark.parametrize(
    "module",
    [
        "node.network.inbox",
        "node.network.outbox",
        "node.network.keyring",
        "node.network.trust",
        "node.network.summaries",
        "node.network.models",
        "node.web.views",
        "node.secretariat.inbound",
        "peer_review.mentoring",
        "peer_review.mentoring_models",
    ],
)
def test_the_rule_refuses_what_the_package_may_not_import(module: str) -> None:
    assert not _allowed(module)


def test_the_rule_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "def f():\n    from node.network import inbox\n    from node.web import views\n",
        encoding="utf-8",
    )
    assert imported_modules(source) == {"node.network.inbox", "node.web.views"}


def test_review_types_are_declared_once_in_their_stream_family_with_their_schemas() -> None:
    registry = InboundRegistry()
    reviews.register_inbound(registry)
    assert registry.types() == ["hrc.review.action", "hrc.review.event"]
    action, event = registry.route("hrc.review.action"), registry.route("hrc.review.event")
    assert action is not None and event is not None
    assert isinstance(action.schema, ReviewActionPayloadSchema)
    assert isinstance(event.schema, ReviewEventPayloadSchema)
    for route in (action, event):
        assert route.accepts_stream("review/0123456789abcdef")
        assert not route.accepts_stream("reviews")
        assert not route.accepts_stream("summaries")
    with pytest.raises(DuplicateRegistration):
        reviews.register_inbound(registry)
