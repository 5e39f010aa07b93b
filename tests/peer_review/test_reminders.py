"""The reminder sweep against a real SMTP server on loopback, with the injected clock.

Clock starts 2026-03-01 12:00 UTC; an invitation answer (14 days) is due 2026-03-15 12:00 UTC, so
"upcoming" goes out on 03-08, "due" on 03-15, "overdue" and the escalation on 03-22.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from node import jobs
from node.models import User
from node.runtime import NodeRuntime
from peer_review import deadlines, reminders
from peer_review.mailer import mailer_for
from peer_review.models import Deadline, Notification, ReminderLog
from tests.peer_review.conftest import MAIL_FROM, LocalSmtp, user_id, with_mail
from tests.support import Caller, Clock

TITLE = "Answer the invitation"
UPCOMING = f"[Gent] Due on 2026-03-15 12:00 UTC: {TITLE}"
DUE = f"[Gent] Due now: {TITLE}"
OVERDUE = f"[Gent] Overdue: {TITLE}"
ESCALATED = f"[Gent] Overdue, escalated: {TITLE}"

Db = Callable[[], Any]


def arm(
    db: Db,
    clock: Clock,
    *,
    subject: str = "assignment:1",
    kind: str = "invitation_answer",
    title: str = TITLE,
    roles: Iterable[str] = ("reviewer",),
    user_ids: Iterable[int] = (),
    due_at: datetime | None = None,
) -> int:
    with db() as session:
        row = deadlines.arm(
            session,
            subject=subject,
            kind=kind,
            due_at=due_at or deadlines.due_after(kind, clock()),
            now=clock(),
            title=title,
            link="/reviews/7",
            roles=roles,
            user_ids=user_ids,
        )
        return row.id


def sweep(node: NodeRuntime, clock: Clock, **kwargs: Any) -> reminders.SweepReport:
    return reminders.run_sweep(node.sessions, node.config, clock(), **kwargs)


def expected(subject: str, *people: Caller) -> list[tuple[str, str]]:
    return sorted((who.email, subject) for who in people)


def logs(db: Db) -> list[tuple[str, str, str]]:
    with db() as session:
        rows = session.execute(
            select(User.email, ReminderLog.step, ReminderLog.email_state)
            .join(User, User.id == ReminderLog.user_id)
            .order_by(User.email, ReminderLog.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def team(create_user: Callable[..., Caller], db: Db) -> dict[str, Caller]:
    """Two reviewers, an official, an administrator, a viewer and a deactivated reviewer."""
    people = {
        "r1": create_user("reviewer", "r1@gent.example"),
        "r2": create_user("reviewer", "r2@gent.example"),
        "official": create_user("official", "official@gent.example"),
        "admin": create_user("admin", "admin@gent.example"),
        "viewer": create_user("viewer", "viewer@gent.example"),
        "gone": create_user("reviewer", "gone@gent.example"),
    }
    with db() as session:
        gone = session.scalar(select(User).where(User.email == "gone@gent.example"))
        assert gone is not None
        gone.active = False
    return people


def test_each_step_once_then_one_escalation(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    arm(db, clock, user_ids=[user_id(db, team["official"])])
    reminded = (team["r1"], team["r2"], team["official"])

    # Due in two weeks: not even read before its first step can be reached.
    assert jobs.run_job_once(node, "deadline_sweep").startswith(
        "0 deadlines looked at, 0 in-app notifications"
    )
    clock.advance(days=7)
    summary = jobs.run_job_once(node, "deadline_sweep")
    assert f"e-mail through SMTP 127.0.0.1:{smtp.port}: 3 sent" in summary
    assert smtp.take() == expected(UPCOMING, *reminded)
    assert sweep(node, clock).notifications == 0  # a re-run sends nothing
    assert smtp.take() == []

    clock.advance(days=7)
    sweep(node, clock)
    assert smtp.take() == expected(DUE, *reminded)
    clock.advance(days=7)
    report = sweep(node, clock)
    assert (report.notifications, report.escalations, report.emails_sent) == (4, 1, 4)
    assert smtp.take() == sorted(expected(OVERDUE, *reminded) + expected(ESCALATED, team["admin"]))
    for _ in range(10):
        clock.advance(days=3)
        sweep(node, clock)
    assert smtp.take() == []

    with db() as session:
        per_user = dict(
            session.execute(
                select(User.email, func.count(Notification.id))
                .join(Notification, Notification.user_id == User.id)
                .group_by(User.email)
            ).all()
        )
    assert per_user == {
        "r1@gent.example": 3,
        "r2@gent.example": 3,
        "official@gent.example": 3,
        "admin@gent.example": 1,
    }


def test_the_message_itself(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    arm(db, clock, roles=["official"])
    clock.advance(days=8)
    sweep(with_mail(app, smtp), clock)
    [mail] = smtp.received
    assert mail.mail_from == MAIL_FROM and mail.rcpt_tos == ["official@gent.example"]
    message = mail.message
    assert message["From"] == f"Gent <{MAIL_FROM}>"
    assert message["To"] == "official@gent.example"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"] and message["Message-ID"].endswith("@gent.example>")
    body = message.get_content()
    assert "“Answer the invitation” is due on 2026-03-15 12:00 UTC." in body
    assert "http://127.0.0.1:5001/reviews/7" in body


def test_a_late_sweep_sends_one_reminder_not_a_burst(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    arm(db, clock)
    clock.advance(days=40)  # the scheduler was down for weeks
    sweep(node, clock)
    assert smtp.take() == sorted(
        expected(OVERDUE, team["r1"], team["r2"]) + expected(ESCALATED, team["admin"])
    )
    sweep(node, clock)
    assert smtp.take() == []


def test_at_most_three_per_person_and_bounded_reads_whatever_the_rhythm(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    arm(db, clock, roles=["official"])
    looked_at = 0
    for _ in range(4 * 40):  # every six hours for forty days
        looked_at += sweep(node, clock).deadlines
        clock.advance(hours=6)
    assert smtp.take() == [
        ("admin@gent.example", ESCALATED),
        ("official@gent.example", DUE),
        ("official@gent.example", UPCOMING),
        ("official@gent.example", OVERDUE),
    ]
    # Read once per step (160 sweeps), never again once everything is done.
    assert looked_at == 3


def test_nothing_for_met_or_closed_deadlines(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    arm(db, clock, subject="assignment:1")
    arm(db, clock, subject="review:2", kind="review_submission")
    arm(db, clock, subject="review:3", kind="response")
    with db() as session:
        deadlines.met(session, "assignment:1", "invitation_answer", clock())
        deadlines.close(session, "review:2", clock())
    clock.advance(days=120)
    sweep(node, clock)
    assert {subject for _, subject in smtp.take()} == {OVERDUE, ESCALATED}  # review:3 only
    with db() as session:
        reminded = set(session.scalars(select(ReminderLog.deadline_id)))
        open_ids = set(session.scalars(select(Deadline.id).where(Deadline.state == "open")))
    assert reminded == open_ids and len(open_ids) == 1


def test_moving_the_date_rearms_the_reminders(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    start = clock()
    arm(db, clock, roles=["official"])
    clock.advance(days=8)
    sweep(node, clock)
    assert smtp.take() == [("official@gent.example", UPCOMING)]
    with db() as session:  # extended by two weeks: due 2026-03-29
        deadlines.move(
            session,
            subject="assignment:1",
            kind="invitation_answer",
            due_at=start + timedelta(days=28),
            now=clock(),
        )
    sweep(node, clock)
    assert smtp.take() == []  # the new date is three weeks away
    sent = []
    for _ in range(30):
        clock.advance(days=1)
        sweep(node, clock)
        sent += [subject for _, subject in smtp.take()]
    assert sent == [f"[Gent] Due on 2026-03-29 12:00 UTC: {TITLE}", DUE, ESCALATED, OVERDUE]
    # Three for the new date, one for the old: the cap is per due date.
    assert [step for email, step, _ in logs(db) if email == "official@gent.example"] == [
        "upcoming",
        "upcoming",
        "due",
        "overdue",
    ]


def test_smtp_down_nothing_logged_as_sent_and_sent_by_a_later_sweep(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    arm(db, clock)
    clock.advance(days=8)
    smtp.stop()
    report = sweep(node, clock)
    assert (report.notifications, report.emails_sent, report.emails_retry) == (2, 0, 2)
    assert "SMTP server unreachable" in report.summary()
    assert {state for _, _, state in logs(db)} == {"pending"}  # in-app yes, e-mail not sent
    assert sweep(node, clock).deadlines == 0  # the retry waits five minutes
    smtp.start()
    clock.advance(minutes=5)
    report = sweep(node, clock)
    assert (report.notifications, report.emails_sent) == (0, 2)
    assert smtp.take() == expected(UPCOMING, team["r1"], team["r2"])
    assert {state for _, _, state in logs(db)} == {"sent"}
    clock.advance(minutes=5)
    sweep(node, clock)
    assert smtp.take() == []


def test_an_email_is_given_up_after_its_last_attempt(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    smtp.stop()
    arm(db, clock, roles=["official"])
    clock.advance(days=8)
    for attempt in range(1, reminders.MAX_EMAIL_ATTEMPTS + 1):
        report = sweep(node, clock)
        assert report.deadlines == 1, attempt  # read exactly when its retry is due
        assert sweep(node, clock).deadlines == 0
        clock.advance(seconds=reminders.retry_delay(attempt).total_seconds())
    assert (report.emails_retry, report.emails_failed) == (0, 1)
    assert logs(db) == [("official@gent.example", "upcoming", "failed")]
    assert sweep(node, clock).deadlines == 0  # nothing left to do until the due date


def test_a_pending_email_is_dropped_when_the_step_or_the_deadline_moves_on(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    arm(db, clock, subject="assignment:1", roles=["official"])
    arm(db, clock, subject="assignment:2", roles=["official"])
    clock.advance(days=8)
    smtp.stop()
    sweep(node, clock)
    smtp.start()
    with db() as session:
        deadlines.close(session, "assignment:2", clock())
    clock.advance(days=7)  # assignment:1 is now due: its "upcoming" copy would be stale
    report = sweep(node, clock)
    assert smtp.take() == [("official@gent.example", DUE)]
    assert report.emails_dropped == 2
    assert [state for *_, state in logs(db)] == ["dropped", "dropped", "sent"]


def test_a_refused_recipient_does_not_stop_the_others(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    smtp.sink.refuse["r1@gent.example"] = "550 5.1.1 No such user here"
    arm(db, clock)
    clock.advance(days=8)
    report = sweep(node, clock)
    assert smtp.take() == [("r2@gent.example", UPCOMING)]
    assert (report.emails_sent, report.emails_failed) == (1, 1)
    assert "550" in report.summary()
    # A permanent refusal is not retried; the in-app notification is there all the same.
    assert logs(db) == [
        ("r1@gent.example", "upcoming", "failed"),
        ("r2@gent.example", "upcoming", "sent"),
    ]
    clock.advance(hours=1)
    sweep(node, clock)
    assert smtp.take() == []


def test_no_header_injection_and_no_extra_recipient(
    app: Flask,
    db: Db,
    clock: Clock,
    smtp: LocalSmtp,
    create_user: Callable[..., Caller],
) -> None:
    create_user("official", "x,evil@gent.example")  # accepted as a login, not as a recipient
    create_user("official", "fine@gent.example")
    arm(db, clock, roles=["official"], title="Answer\r\nBcc: evil@elsewhere.example\r\n\r\nhi")
    clock.advance(days=8)
    report = sweep(with_mail(app, smtp), clock)
    [mail] = smtp.received
    assert mail.rcpt_tos == ["fine@gent.example"]
    assert mail.message["Bcc"] is None
    assert mail.subject == (
        "[Gent] Due on 2026-03-15 12:00 UTC: Answer Bcc: evil@elsewhere.example hi"
    )
    assert report.emails_failed == 1 and "not a plain e-mail address" in report.summary()


def test_escalation_skips_people_already_reminded(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    arm(db, clock, roles=["admin"])  # the administrators must act and are the escalation role
    clock.advance(days=30)
    report = sweep(with_mail(app, smtp), clock)
    assert smtp.take() == [("admin@gent.example", OVERDUE)]
    assert report.escalations == 0


def test_in_app_only_without_smtp(
    app: Flask, db: Db, clock: Clock, team: dict[str, Caller]
) -> None:
    node = with_mail(app, None)
    arm(db, clock)
    clock.advance(days=8)
    summary = jobs.run_job_once(node, "deadline_sweep")
    assert "2 in-app notifications" in summary
    assert "e-mail off (no smtp_host): in-app only: 0 sent" in summary
    assert {state for *_, state in logs(db)} == {"off"}


def test_a_run_is_bounded_and_the_next_one_continues(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    for n in range(5):
        arm(db, clock, subject=f"assignment:{n}", roles=["official"])
    clock.advance(days=8)
    first = sweep(node, clock, batch_size=2)
    assert (first.deadlines, first.batch_full) == (2, True)
    assert "batch full: the next run continues" in first.summary()
    assert len(smtp.take()) == 2
    counts = [sweep(node, clock, batch_size=2).deadlines for _ in range(3)]
    assert counts == [2, 1, 0]
    assert len(smtp.take()) == 3


def test_recipient_ids_of_nobody_are_ignored(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    arm(db, clock, roles=[], user_ids=[999_999, 2**40])
    clock.advance(days=8)
    report = sweep(with_mail(app, smtp), clock)
    assert (report.deadlines, report.notifications) == (1, 0)


def test_the_job_is_listed_every_five_minutes() -> None:
    entry = jobs.JOBS["deadline_sweep"]
    assert entry.every_seconds == 300 and "remind" in entry.description
    assert re.match(r"^[a-z_]+$", entry.name)


def test_two_sweeps_at_once_send_once(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller], node: Any
) -> None:
    if node.backend != "postgresql":
        pytest.skip("SQLite lets one writer at a time: the second sweep waits for the first")
    runtime = with_mail(app, smtp)
    arm(db, clock)
    clock.advance(days=8)
    with db() as first, db() as second, mailer_for(runtime.config) as mailer:
        assert mailer is not None
        second.execute(text("SET LOCAL lock_timeout = '5s'"))  # a regression fails, not hangs
        one = reminders.sweep(first, runtime.config, clock(), mailer)
        # The first has not committed: its deadline is locked, the second skips it.
        two = reminders.sweep(second, runtime.config, clock(), mailer)
    assert (one.deadlines, two.deadlines) == (1, 0)
    assert smtp.take() == expected(UPCOMING, team["r1"], team["r2"])
    assert sweep(runtime, clock).deadlines == 0


def test_the_in_app_notification_says_the_same_as_the_email(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    arm(db, clock, roles=["official"])
    for days, kind, subject in (
        (8, "reminder_upcoming", UPCOMING),
        (7, "reminder_due", DUE),
        (7, "reminder_overdue", OVERDUE),
    ):
        clock.advance(days=days)
        sweep(node, clock)
        [(email, sent)] = [mail for mail in smtp.take() if mail[0] == "official@gent.example"]
        assert sent == subject
        with db() as session:
            note = session.scalars(
                select(Notification)
                .join(User, User.id == Notification.user_id)
                .where(User.email == email)
                .order_by(Notification.id.desc())
            ).first()
            assert note is not None
            assert (note.kind, note.title, note.link) == (
                kind,
                sent.removeprefix("[Gent] "),
                "/reviews/7",
            )
            assert note.body.startswith(f"“{TITLE}”")
            # The log row of this reminder points at the notification it created.
            logged = session.scalar(
                select(ReminderLog.notification_id).where(
                    ReminderLog.user_id == note.user_id, ReminderLog.step == kind.split("_")[1]
                )
            )
            assert logged == note.id


def test_each_refusal_is_counted_and_its_reason_kept(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    smtp.sink.refuse["r1@gent.example"] = "550 5.1.1 No such user here"
    smtp.sink.refuse["r2@gent.example"] = "553 5.1.3 Mailbox name not allowed"
    arm(db, clock, roles=["reviewer", "official"])
    clock.advance(days=8)
    report = sweep(node, clock)
    assert (report.emails_sent, report.emails_failed, report.emails_retry) == (1, 2, 0)
    with db() as session:
        kept = dict(
            session.execute(
                select(User.email, ReminderLog.email_error).join(
                    User, User.id == ReminderLog.user_id
                )
            ).all()
        )
    assert kept == {
        "r1@gent.example": "550 5.1.1 No such user here",
        "r2@gent.example": "553 5.1.3 Mailbox name not allowed",
        "official@gent.example": None,
    }


def test_recipients_by_id_alone_are_reminded_and_what_is_not_an_id_is_ignored(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    with db() as session:
        first = session.scalar(select(User).where(User.active.is_(True)).order_by(User.id))
        assert first is not None and first.id == 1  # the lowest id a user can have
        first_email = first.email
    arm(db, clock, subject="assignment:1", roles=[], user_ids=[1])
    arm(db, clock, subject="assignment:2", roles=[], user_ids=["1"])  # type: ignore[list-item]
    clock.advance(days=8)
    report = sweep(with_mail(app, smtp), clock)
    assert (report.deadlines, report.notifications) == (2, 1)
    assert smtp.take() == [(first_email, UPCOMING)]


def test_moving_the_date_drops_the_old_dates_waiting_email(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    start = clock()
    arm(db, clock, roles=["official"])
    clock.advance(days=8)
    smtp.stop()
    sweep(node, clock)
    assert logs(db) == [("official@gent.example", "upcoming", "pending")]
    smtp.start()
    with db() as session:
        deadlines.move(
            session,
            subject="assignment:1",
            kind="invitation_answer",
            due_at=start + timedelta(days=28),
            now=clock(),
        )
    clock.advance(minutes=5)  # the retry would be due now
    report = sweep(node, clock)
    assert report.emails_dropped == 1 and smtp.take() == []
    with db() as session:
        row = session.scalars(select(ReminderLog)).one()
        assert (row.email_state, row.email_retry_at) == ("dropped", None)


def test_closing_one_deadline_leaves_the_others_emails_alone(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    arm(db, clock, subject="assignment:1", roles=["official"])
    arm(db, clock, subject="assignment:2", roles=["reviewer"])
    smtp.sink.refuse["r1@gent.example"] = "451 4.3.0 Try again later"  # transient: retried
    clock.advance(days=8)
    sweep(node, clock)
    assert sorted(smtp.take()) == [
        ("official@gent.example", UPCOMING),
        ("r2@gent.example", UPCOMING),
    ]
    with db() as session:
        deadlines.close(session, "assignment:1", clock())
    report = sweep(node, clock)
    assert report.emails_dropped == 0
    assert logs(db) == [
        ("official@gent.example", "upcoming", "sent"),  # a sent e-mail stays sent
        ("r1@gent.example", "upcoming", "pending"),  # the other deadline's retry still waits
        ("r2@gent.example", "upcoming", "sent"),
    ]
    del smtp.sink.refuse["r1@gent.example"]
    clock.advance(minutes=5)
    sweep(node, clock)
    assert smtp.take() == [("r1@gent.example", UPCOMING)]


def test_a_full_batch_takes_the_soonest_due_first(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    # Armed first (lower id) but due a day later than the second one.
    arm(
        db,
        clock,
        subject="assignment:later",
        roles=["official"],
        due_at=clock() + timedelta(days=15),
    )
    arm(
        db,
        clock,
        subject="assignment:sooner",
        roles=["official"],
        due_at=clock() + timedelta(days=14),
    )
    clock.advance(days=9)
    sweep(node, clock, batch_size=1)
    assert smtp.take() == [("official@gent.example", UPCOMING)]  # the 03-15 one


def test_a_date_brought_forward_is_looked_at_again_at_once(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    start = clock()
    arm(db, clock, roles=["official"])  # due 03-15
    clock.advance(days=8)
    sweep(node, clock)  # "upcoming" sent; nothing more to do before 03-15
    assert smtp.take() == [("official@gent.example", UPCOMING)]
    with db() as session:  # brought forward to 03-10: the new date has its own steps
        deadlines.move(
            session,
            subject="assignment:1",
            kind="invitation_answer",
            due_at=start + timedelta(days=9),
            now=clock(),
        )
    clock.advance(hours=1)
    assert sweep(node, clock).deadlines == 1  # not left waiting until 03-15
    assert smtp.take() == [
        ("official@gent.example", f"[Gent] Due on 2026-03-10 12:00 UTC: {TITLE}")
    ]


def test_a_full_batch_takes_a_deadline_never_looked_at_before_one_looked_at(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    # Least recently looked-at first, so that no deadline starves behind sooner ones.
    node = with_mail(app, smtp)
    start = clock()
    arm(db, clock, subject="assignment:1", roles=["official"])  # due 03-15
    clock.advance(days=8)
    sweep(node, clock, batch_size=1)
    assert smtp.take() == [("official@gent.example", UPCOMING)]
    arm(db, clock, subject="assignment:2", roles=["official"], due_at=start + timedelta(days=16))
    clock.advance(days=6, hours=12)  # 03-15 24:00: both have a step due now
    sweep(node, clock, batch_size=1)
    assert smtp.take() == [
        ("official@gent.example", f"[Gent] Due on 2026-03-17 12:00 UTC: {TITLE}")
    ]  # the one never looked at, though due later
    sweep(node, clock, batch_size=1)
    assert smtp.take() == [("official@gent.example", DUE)]


def test_escalation_skips_a_reminded_administrator_and_goes_on_to_the_next(
    app: Flask,
    db: Db,
    clock: Clock,
    smtp: LocalSmtp,
    team: dict[str, Caller],
    create_user: Callable[..., Caller],
) -> None:
    create_user("admin", "admin2@gent.example")  # later ids than the team's administrator
    create_user("admin", "admin3@gent.example")
    arm(db, clock, roles=[], user_ids=[user_id(db, team["admin"])])
    clock.advance(days=30)
    report = sweep(with_mail(app, smtp), clock)
    assert sorted(smtp.take()) == [
        ("admin2@gent.example", ESCALATED),
        ("admin3@gent.example", ESCALATED),
        ("admin@gent.example", OVERDUE),
    ]
    assert report.escalations == 2


def test_a_due_copy_still_waiting_at_overdue_is_dropped_not_sent(
    app: Flask, db: Db, clock: Clock, smtp: LocalSmtp, team: dict[str, Caller]
) -> None:
    node = with_mail(app, smtp)
    arm(db, clock, roles=["official"], due_at=clock() + timedelta(days=1))
    clock.advance(days=1)
    smtp.sink.refuse["official@gent.example"] = "451 4.3.0 Try again later"
    sweep(node, clock)
    assert logs(db) == [("official@gent.example", "due", "pending")]
    del smtp.sink.refuse["official@gent.example"]
    clock.advance(days=7)  # overdue: the due copy would now be a burst
    report = sweep(node, clock)
    assert sorted(smtp.take()) == [
        ("admin@gent.example", ESCALATED),
        ("official@gent.example", OVERDUE),
    ]
    assert report.emails_dropped == 1
