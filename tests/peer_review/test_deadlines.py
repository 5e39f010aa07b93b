"""Arming, moving and closing deadlines (the sweep reads these rows)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from node.errors import NotFoundError
from peer_review import deadlines


def test_arm_move_met_close(db, clock) -> None:  # type: ignore[no-untyped-def]
    start = clock()
    with db() as session:
        due = deadlines.due_after("invitation_answer", start)
        assert due - start == timedelta(days=14)
        row = deadlines.arm(
            session,
            subject="assignment:1",
            kind="invitation_answer",
            due_at=due,
            now=start,
            title="Answer the invitation",
            link="/reviews/x",
            roles=["reviewer", "reviewer"],
        )
        assert row.recipient_roles == ["reviewer"]
        again = deadlines.arm(
            session,
            subject="assignment:1",
            kind="invitation_answer",
            due_at=due + timedelta(days=1),
            now=start,
            title="Answer the invitation",
            link="/reviews/x",
        )
        assert again.id == row.id  # one row per (subject, kind)
        moved = deadlines.move(
            session, subject="assignment:1", kind="invitation_answer", due_at=due, now=start
        )
        assert moved.due_at == due
        assert [d.kind for d in deadlines.open_deadlines(session, "assignment:1")] == [
            "invitation_answer"
        ]
        assert deadlines.met(session, "assignment:1", "invitation_answer", start) == 1
        assert deadlines.open_deadlines(session, "assignment:1") == []
        assert deadlines.close(session, "assignment:1", start) == 0
        with pytest.raises(NotFoundError):
            deadlines.move(session, subject="nothing", kind="response", due_at=due, now=start)
