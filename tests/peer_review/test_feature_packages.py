"""Reviews and mentoring are feature packages with predictable files that register themselves
(issue 13). What they may import is checked for the whole code base in
``tests/unit/core/test_import_graph.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from marshmallow import Schema

from node.network.registry import DuplicateRegistration, InboundRegistry
from peer_review import mentoring, reviews
from schemas.mentoring import METADATA_TYPE, PAYLOAD_SCHEMAS, RELATIONSHIP_TYPES
from schemas.peer_review import ReviewActionPayloadSchema, ReviewEventPayloadSchema

MAX_LINES = 700  # a module past this is several modules (reviews.py had 1,496 lines)


@pytest.mark.parametrize(
    ("package", "expected", "template"),
    [
        (
            reviews,
            {"__init__.py", "models.py", "api.py", "pages.py", "forms.py", "inbound.py"},
            "reviews/workspace.html",
        ),
        (
            mentoring,
            {"__init__.py", "models.py", "api.py", "pages.py", "forms.py", "inbound.py"}
            | {"read.py", "jobs.py", "workflow.py", "effects.py"},
            "mentoring/relationship.html",
        ),
    ],
    ids=["reviews", "mentoring"],
)
def test_the_package_has_the_predictable_files(package, expected: set[str], template: str) -> None:
    root = Path(package.__file__).parent
    assert expected <= {p.name for p in root.glob("*.py")}
    assert (root / "templates" / template).is_file()
    too_long = {
        str(p.relative_to(root)): n
        for p in root.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}


def test_review_types_are_declared_once_in_their_stream_family_with_their_schemas() -> None:
    registry = InboundRegistry()
    reviews.register_inbound(registry)
    assert registry.types() == ["hrc.review.action", "hrc.review.event"]
    action, event = registry.route("hrc.review.action"), registry.route("hrc.review.event")
    assert action is not None and event is not None
    assert isinstance(action.schema, ReviewActionPayloadSchema)
    assert isinstance(event.schema, ReviewEventPayloadSchema)
    assert (action.envelope_schema, event.envelope_schema) == (
        "hrc.review.action/1",
        "hrc.review.event/1",
    )
    for route in (action, event):
        assert route.accepts_stream("review/0123456789abcdef")
        assert not route.accepts_stream("reviews")
        assert not route.accepts_stream("summaries")
    with pytest.raises(DuplicateRegistration, match="hrc.review"):
        reviews.register_inbound(registry)


def test_mentoring_types_are_declared_once_in_their_stream_with_their_schemas() -> None:
    registry = InboundRegistry()
    mentoring.register_inbound(registry)
    assert registry.types() == sorted({*RELATIONSHIP_TYPES, METADATA_TYPE})
    for type_ in registry.types():
        route = registry.route(type_)
        assert route is not None
        assert route.accepts_stream("mentoring") and not route.accepts_stream("mentoring/x")
        assert isinstance(route.schema, Schema) and type(route.schema) is PAYLOAD_SCHEMAS[type_]
    with pytest.raises(DuplicateRegistration, match="hrc.mentoring"):
        mentoring.register_inbound(registry)
