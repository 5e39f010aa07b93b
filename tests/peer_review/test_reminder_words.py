"""What the reminders say and what the sweep reports, word for word, and the schedule's numbers at
their edges (docs/reminders.md). Pure: no database, no SMTP.

Written to kill the mutants ``make mutate MODULE=peer_review/reminders.py`` found alive
(docs/testing.md): the sweep tests check these texts by substring through a real SMTP server,
which let a changed word, a dropped line or a loosened cap pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node.config import NodeConfig
from peer_review import reminders
from peer_review.models import Deadline
from peer_review.reminders import SweepReport, email_body, retry_delay, schedule, texts

DUE = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
CONFIG = NodeConfig(Path("."), {"name": "Gent", "base_url": "https://gent.example"})


def deadline(**changes: object) -> Deadline:
    values: dict[str, object] = {
        "title": "Answer the invitation",
        "due_at": DUE,
        "escalation_roles": ["admin", "coordinator"],
    }
    values.update(changes)
    return Deadline(**values)


# --- texts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "kind", "subject", "summary"),
    [
        (
            "upcoming",
            "reminder_upcoming",
            "Due on 2026-03-15 12:00 UTC: Answer the invitation",
            "“Answer the invitation” is due on 2026-03-15 12:00 UTC.",
        ),
        (
            "due",
            "reminder_due",
            "Due now: Answer the invitation",
            "“Answer the invitation” is due now (2026-03-15 12:00 UTC) and still open.",
        ),
        (
            "overdue",
            "reminder_overdue",
            "Overdue: Answer the invitation",
            "“Answer the invitation” was due on 2026-03-15 12:00 UTC and is still open. This is "
            "the last reminder for this date.",
        ),
        (
            "escalation",
            "deadline_escalation",
            "Overdue, escalated: Answer the invitation",
            "“Answer the invitation” was due on 2026-03-15 12:00 UTC and is still open. The "
            "people responsible have been reminded; you are told because deadlines escalate to "
            "your role (admin, coordinator).",
        ),
    ],
)
def test_each_step_has_its_own_kind_subject_and_summary(
    step: str, kind: str, subject: str, summary: str
) -> None:
    assert texts(deadline(), step) == reminders.Texts(kind, subject, summary)


def test_the_email_links_to_the_object_or_to_the_notifications_page() -> None:
    signature = (
        "\n\n-- \nhrcnet, Gent (https://gent.example)\nYou receive this as a user of this node. "
        "Reminders stop when the task is done, closed or withdrawn.\n"
    )
    assert email_body("It is due.", "/reviews/7", CONFIG) == (
        "It is due.\n\nOpen it: https://gent.example/reviews/7" + signature
    )
    assert email_body("It is due.", None, CONFIG) == (
        "It is due.\n\nOpen it: https://gent.example/notifications" + signature
    )


# --- the report --------------------------------------------------------------------------------


def test_the_report_keeps_five_distinct_mail_problems() -> None:
    report = SweepReport(mail="e-mail through SMTP 127.0.0.1:25")
    report.note("timeout")
    report.note("timeout")  # the same problem once
    assert report.errors == ["timeout"]
    for problem in ("refused 1", "refused 2", "refused 3", "refused 4"):
        report.note(problem)
    assert report.errors == ["timeout", "refused 1", "refused 2", "refused 3", "refused 4"]
    report.note("refused 5")  # a sixth is left out: the report stays short
    report.note("timeout")
    assert len(report.errors) == 5 and "refused 5" not in report.errors


def test_the_report_lines_word_for_word() -> None:
    report = SweepReport(
        mail="e-mail through SMTP 127.0.0.1:25",
        deadlines=3,
        notifications=4,
        escalations=1,
        emails_sent=2,
        emails_retry=1,
        emails_failed=1,
        emails_dropped=5,
    )
    quiet = [
        "3 deadlines looked at, 4 in-app notifications (1 escalations)",
        "e-mail through SMTP 127.0.0.1:25: 2 sent, 1 to retry, 1 given up, 5 dropped",
    ]
    assert report.lines() == quiet
    report.note("550 no such user")
    report.batch_full = True
    assert report.lines() == [
        *quiet,
        "e-mail problem: 550 no such user",
        "batch full: the next run continues",
    ]
    assert report.summary() == "; ".join(report.lines())
    fresh = SweepReport(mail=reminders.MAIL_OFF)
    assert (fresh.deadlines, fresh.notifications, fresh.escalations, fresh.errors) == (0, 0, 0, [])
    assert not fresh.batch_full
    assert (
        fresh.lines()[1]
        == "e-mail off (no smtp_host): in-app only: 0 sent, 0 to retry, 0 given up, 0 dropped"
    )


# --- the numbers at their edges ------------------------------------------------------------------


def test_retry_delays_from_five_minutes_doubling_to_twelve_hours() -> None:
    minutes = [retry_delay(n) / timedelta(minutes=1) for n in range(0, 12)]
    # Attempt 0 or 1 failed: wait 5 minutes; then 10, 20 ... 640 (8th); 1280 > 720 is capped.
    assert minutes == [5, 5, 10, 20, 40, 80, 160, 320, 640, 720, 720, 720]
    assert reminders.MAX_EMAIL_ATTEMPTS == 10


@pytest.mark.parametrize(
    ("period", "lead"),
    [
        (timedelta(days=14), timedelta(days=7)),  # half the period is exactly the longest lead
        (timedelta(days=14) - timedelta(seconds=2), timedelta(days=7) - timedelta(seconds=1)),
        (timedelta(days=14, seconds=2), timedelta(days=7)),
        (timedelta(0), timedelta(0)),
        (-timedelta(days=1), timedelta(0)),  # armed after its due date: no lead at all
    ],
)
def test_the_lead_is_half_the_period_up_to_seven_days(period: timedelta, lead: timedelta) -> None:
    armed = DUE - period
    plan = schedule(armed, DUE)
    assert plan.due_at - plan.upcoming_at == lead
    assert plan.overdue_at - plan.due_at == timedelta(days=7)
