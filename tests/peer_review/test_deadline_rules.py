"""The deadline rules, pinned one by one (expected answers from docs/reminders.md,
docs/peer_review.md and docs/protocol.md "Deadlines", not from ``peer_review.deadlines``).

* Default periods: invitation answer 14 days, review 6 weeks, response 8 weeks, follow-up
  24 months (730 days), mentoring answer 21 days, agreement 45 days, session notes 7 days — the
  due date is the start *plus* the period.
* One row per (object, kind): arming again re-opens that row with the new date, never a second
  one, and never touches another object's or another kind's row.
* Recipients and escalation roles are sets (kept sorted); escalation goes to ``admin`` unless
  the service says otherwise. Titles and links are cut to their columns (200 / 300 characters).
* ``move`` changes only the named deadline and refuses an unknown one with 404
  ``no_such_deadline``; ``met`` ends one kind, ``close`` all of an object's (or the named kinds),
  each only while open, and says how many it ended. ``open_deadlines``: this object's open
  ones, soonest first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from node.errors import NotFoundError
from peer_review import deadlines
from peer_review.models import Deadline

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "period"),
    [
        ("invitation_answer", timedelta(days=14)),
        ("review_submission", timedelta(days=42)),
        ("response", timedelta(days=56)),
        ("follow_up", timedelta(days=730)),
        ("mentoring_answer", timedelta(days=21)),
        ("mentoring_agreement", timedelta(days=45)),
        ("session_notes", timedelta(days=7)),
    ],
)
def test_default_periods_are_added_to_the_start(kind: str, period: timedelta) -> None:
    assert deadlines.due_after(kind, START) == START + period


def test_an_unknown_kind_has_no_default_period() -> None:
    with pytest.raises(KeyError):
        deadlines.due_after("nap", START)


def _arm(session: Any, subject: str = "review:1", kind: str = "response", **over: Any) -> Deadline:
    args: dict[str, Any] = {
        "subject": subject,
        "kind": kind,
        "due_at": START + timedelta(days=56),
        "now": START,
        "title": "Respond to the recommendations",
        "link": "/reviews/1",
    }
    args.update(over)
    return deadlines.arm(session, **args)


def _rows(db: Any) -> list[tuple[str, str, str, datetime]]:
    """Every deadline row as (subject, kind, state, due_at), read back in a new session."""
    with db() as session:
        return [
            (d.subject, d.kind, d.state, d.due_at)
            for d in session.scalars(select(Deadline).order_by(Deadline.subject, Deadline.kind))
        ]


def test_arming_stores_an_open_row_with_what_it_was_given(db) -> None:  # type: ignore[no-untyped-def]
    with db() as session:
        row_id = _arm(
            session,
            roles=["official", "reviewer", "official"],
            user_ids=[7, 3, 7],
            escalation_roles=["official", "admin", "official"],
        ).id
    with db() as session:
        row = session.get(Deadline, row_id)
        assert row is not None
        assert (row.subject, row.kind, row.state) == ("review:1", "response", "open")
        assert row.due_at == START + timedelta(days=56)
        assert row.armed_at == START and row.updated_at == START
        assert (row.title, row.link) == ("Respond to the recommendations", "/reviews/1")
        assert row.recipient_roles == ["official", "reviewer"]
        assert row.recipient_user_ids == [3, 7]
        assert row.escalation_roles == ["admin", "official"]


def test_escalation_goes_to_admins_unless_told_otherwise(db) -> None:  # type: ignore[no-untyped-def]
    with db() as session:
        row = _arm(session)
        assert row.escalation_roles == ["admin"]
        assert row.recipient_roles == [] and row.recipient_user_ids == []


@pytest.mark.parametrize(("length", "kept"), [(199, 199), (200, 200), (201, 200), (260, 200)])
def test_a_title_is_cut_to_200_characters(db, length: int, kept: int) -> None:  # type: ignore[no-untyped-def]
    title = "".join(chr(ord("a") + i % 26) for i in range(length))
    with db() as session:
        row_id = _arm(session, title=title).id
    with db() as session:
        assert session.get(Deadline, row_id).title == title[:kept]  # type: ignore[union-attr]


@pytest.mark.parametrize(("length", "kept"), [(299, 299), (300, 300), (301, 300), (400, 300)])
def test_a_link_is_cut_to_300_characters(db, length: int, kept: int) -> None:  # type: ignore[no-untyped-def]
    link = "/" + "".join(chr(ord("a") + i % 26) for i in range(length - 1))
    with db() as session:
        row_id = _arm(session, link=link).id
    with db() as session:
        assert session.get(Deadline, row_id).link == link[:kept]  # type: ignore[union-attr]


def test_arming_again_reopens_the_same_row_with_the_new_date(db, clock) -> None:  # type: ignore[no-untyped-def]
    with db() as session:
        first = _arm(session)
        first_id = first.id
        assert deadlines.met(session, "review:1", "response", START) == 1
    later = START + timedelta(days=3)
    with db() as session:
        again = _arm(
            session, due_at=later + timedelta(days=56), now=later, title="New", roles=["chair"]
        )
        assert again.id == first_id
    with db() as session:
        row = session.get(Deadline, first_id)
        assert row is not None
        assert row.state == "open" and row.due_at == later + timedelta(days=56)
        assert row.updated_at == later and row.title == "New"
        assert row.recipient_roles == ["chair"]
    assert len(_rows(db)) == 1


def test_arming_one_deadline_leaves_the_others_alone(db) -> None:  # type: ignore[no-untyped-def]
    other_due = START + timedelta(days=14)
    with db() as session:
        _arm(session, subject="assignment:1", kind="invitation_answer", due_at=other_due)
        _arm(session, subject="review:1", kind="follow_up", due_at=other_due)
        _arm(session, subject="assignment:2", kind="response", due_at=other_due)
    with db() as session:
        _arm(session, subject="review:1", kind="response")
    assert _rows(db) == [
        ("assignment:1", "invitation_answer", "open", other_due),
        ("assignment:2", "response", "open", other_due),
        ("review:1", "follow_up", "open", other_due),
        ("review:1", "response", "open", START + timedelta(days=56)),
    ]


def test_moving_changes_only_the_named_deadline(db) -> None:  # type: ignore[no-untyped-def]
    due = START + timedelta(days=56)
    with db() as session:
        _arm(session, subject="review:1", kind="response")
        _arm(session, subject="review:1", kind="follow_up")
        _arm(session, subject="review:2", kind="response")
    moved_at, new_due = START + timedelta(days=1), START + timedelta(days=70)
    with db() as session:
        row = deadlines.move(
            session, subject="review:1", kind="response", due_at=new_due, now=moved_at
        )
        assert (row.subject, row.kind) == ("review:1", "response")
        row_id = row.id
    with db() as session:
        moved = session.get(Deadline, row_id)
        assert moved is not None and (moved.due_at, moved.updated_at) == (new_due, moved_at)
        assert moved.state == "open"
    assert _rows(db) == [
        ("review:1", "follow_up", "open", due),
        ("review:1", "response", "open", new_due),
        ("review:2", "response", "open", due),
    ]


def test_moving_an_unknown_deadline_is_refused_and_writes_nothing(db) -> None:  # type: ignore[no-untyped-def]
    with db() as session:
        _arm(session, subject="review:1", kind="response")
    before = _rows(db)
    for subject, kind in (("review:2", "response"), ("review:1", "follow_up")):
        with db() as session, pytest.raises(NotFoundError) as refused:
            deadlines.move(session, subject=subject, kind=kind, due_at=START, now=START)
        assert refused.value.code == "no_such_deadline" and refused.value.status == 404
        assert kind in str(refused.value) and subject in str(refused.value)
    assert _rows(db) == before


def test_met_ends_only_that_kind_of_that_object(db) -> None:  # type: ignore[no-untyped-def]
    due = START + timedelta(days=56)
    with db() as session:
        _arm(session, subject="review:1", kind="response")
        _arm(session, subject="review:1", kind="follow_up")
        _arm(session, subject="review:2", kind="response")
    later = START + timedelta(days=2)
    with db() as session:
        assert deadlines.met(session, "review:1", "response", later) == 1
    with db() as session:
        row = session.scalar(
            select(Deadline).where(Deadline.subject == "review:1", Deadline.kind == "response")
        )
        assert row is not None and row.updated_at == later
    assert _rows(db) == [
        ("review:1", "follow_up", "open", due),
        ("review:1", "response", "met", due),
        ("review:2", "response", "open", due),
    ]
    with db() as session:  # already met: nothing left to end
        assert deadlines.met(session, "review:1", "response", later) == 0


def test_close_ends_every_open_deadline_of_the_object(db) -> None:  # type: ignore[no-untyped-def]
    due = START + timedelta(days=56)
    with db() as session:
        _arm(session, subject="review:1", kind="response")
        _arm(session, subject="review:1", kind="follow_up")
        _arm(session, subject="review:1", kind="review_submission")
        _arm(session, subject="review:2", kind="response")
        deadlines.met(session, "review:1", "review_submission", START)
    later = START + timedelta(days=5)
    with db() as session:
        # the met one stays met: only the two open ones are closed
        assert deadlines.close(session, "review:1", later) == 2
    with db() as session:
        updated = {
            d.kind: d.updated_at
            for d in session.scalars(select(Deadline).where(Deadline.subject == "review:1"))
        }
        assert updated == {"response": later, "follow_up": later, "review_submission": START}
    assert _rows(db) == [
        ("review:1", "follow_up", "closed", due),
        ("review:1", "response", "closed", due),
        ("review:1", "review_submission", "met", due),
        ("review:2", "response", "open", due),
    ]
    with db() as session:
        assert deadlines.close(session, "review:1", later) == 0


def test_close_with_kinds_ends_only_those(db) -> None:  # type: ignore[no-untyped-def]
    due = START + timedelta(days=56)
    with db() as session:
        _arm(session, subject="mentoring:1", kind="session_notes")
        _arm(session, subject="mentoring:1", kind="mentoring_agreement")
        _arm(session, subject="mentoring:2", kind="session_notes")
    with db() as session:
        assert deadlines.close(session, "mentoring:1", START, kinds=["session_notes"]) == 1
    assert _rows(db) == [
        ("mentoring:1", "mentoring_agreement", "open", due),
        ("mentoring:1", "session_notes", "closed", due),
        ("mentoring:2", "session_notes", "open", due),
    ]
    with db() as session:  # an empty list of kinds closes nothing
        assert deadlines.close(session, "mentoring:1", START, kinds=[]) == 0
    with db() as session:  # kinds may be any iterable, read once
        assert (
            deadlines.close(session, "mentoring:1", START, kinds=iter(["mentoring_agreement"])) == 1
        )
    assert [r[2] for r in _rows(db)] == ["closed", "closed", "open"]


def test_open_deadlines_are_this_objects_open_ones_soonest_first(db) -> None:  # type: ignore[no-untyped-def]
    with db() as session:
        _arm(session, subject="review:1", kind="follow_up", due_at=START + timedelta(days=730))
        _arm(session, subject="review:1", kind="response", due_at=START + timedelta(days=56))
        _arm(
            session, subject="review:1", kind="review_submission", due_at=START + timedelta(days=42)
        )
        _arm(
            session, subject="review:1", kind="invitation_answer", due_at=START + timedelta(days=1)
        )
        _arm(session, subject="review:2", kind="response", due_at=START + timedelta(days=2))
        deadlines.met(session, "review:1", "invitation_answer", START)
    with db() as session:
        listed = deadlines.open_deadlines(session, "review:1")
        assert [d.kind for d in listed] == ["review_submission", "response", "follow_up"]
        assert deadlines.open_deadlines(session, "review:3") == []
