"""The reminder schedule, pure: which step is due when, never a burst, never more than three."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from peer_review import deadlines, reminders
from peer_review.reminders import schedule, step_to_send

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_default_periods_remind_a_week_before_at_and_a_week_after() -> None:
    due = deadlines.due_after("invitation_answer", T0)  # 14 days
    plan = schedule(T0, due)
    assert (plan.upcoming_at, plan.due_at, plan.overdue_at) == (
        T0 + 7 * DAY,
        T0 + 14 * DAY,
        T0 + 21 * DAY,
    )
    response = schedule(T0, deadlines.due_after("response", T0))  # 8 weeks
    assert response.due_at - response.upcoming_at == 7 * DAY


def test_a_short_deadline_is_not_reminded_when_it_is_set() -> None:
    # Session notes are due 7 days after the session: a 7-day lead would remind at once.
    plan = schedule(T0, deadlines.due_after("session_notes", T0))
    assert plan.upcoming_at == T0 + timedelta(days=3.5)
    assert plan.step_at(T0) is None and plan.step_at(T0 + 3 * DAY) is None
    assert plan.step_at(T0 + 4 * DAY) == "upcoming"


def test_armed_at_or_after_its_due_date_there_is_no_upcoming_step() -> None:
    plan = schedule(T0 + DAY, T0)
    assert plan.upcoming_at == plan.due_at == T0
    assert plan.step_at(T0 + DAY) == "due"
    assert plan.step_at(T0 - timedelta(seconds=1)) is None


def test_steps_and_next_change_at_the_boundaries() -> None:
    plan = schedule(T0, T0 + 14 * DAY)
    assert plan.step_at(T0 + 7 * DAY - timedelta(microseconds=1)) is None
    assert plan.step_at(T0 + 7 * DAY) == "upcoming"
    assert plan.step_at(T0 + 14 * DAY) == "due"
    assert plan.step_at(T0 + 21 * DAY) == "overdue"
    assert plan.next_change(T0) == T0 + 7 * DAY
    assert plan.next_change(T0 + 7 * DAY) == T0 + 14 * DAY
    assert plan.next_change(T0 + 20 * DAY) == T0 + 21 * DAY
    assert plan.next_change(T0 + 21 * DAY) is None


def test_a_late_sweep_sends_only_the_most_advanced_step() -> None:
    plan = schedule(T0, T0 + 14 * DAY)
    assert step_to_send(plan, T0 + 30 * DAY, []) == "overdue"
    assert step_to_send(plan, T0 + 30 * DAY, ["overdue"]) is None
    assert step_to_send(plan, T0 + 15 * DAY, ["upcoming"]) == "due"
    assert step_to_send(plan, T0 + 15 * DAY, ["due"]) is None
    assert step_to_send(plan, T0 + 8 * DAY, ["due"]) is None  # never back to an earlier step
    assert step_to_send(plan, T0, []) is None


def test_the_cap_holds_whatever_the_log_says() -> None:
    plan = schedule(T0, T0 + 14 * DAY)
    assert step_to_send(plan, T0 + 30 * DAY, ["upcoming", "due"]) == "overdue"
    assert step_to_send(plan, T0 + 30 * DAY, ["upcoming", "due", "escalation"]) == "overdue"
    # Three reminders already (say from an older version of the rules): nothing more.
    assert reminders.MAX_REMINDERS == 3
    assert step_to_send(plan, T0 + 30 * DAY, ["upcoming", "upcoming", "due"]) is None


def test_retry_delay_doubles_up_to_twelve_hours() -> None:
    delays = [reminders.retry_delay(n) for n in range(1, 11)]
    assert delays[:3] == [timedelta(minutes=5), timedelta(minutes=10), timedelta(minutes=20)]
    assert delays[-1] == timedelta(hours=12) and delays == sorted(delays)


@given(
    period=st.timedeltas(min_value=-5 * DAY, max_value=800 * DAY),
    gaps=st.lists(st.timedeltas(min_value=timedelta(0), max_value=30 * DAY), max_size=60),
)
def test_any_sweep_rhythm_sends_at_most_three_in_order(
    period: timedelta, gaps: list[timedelta]
) -> None:
    """Whatever the period and however irregular the sweeps: each step at most once, in order,
    only when reached, at most three."""
    plan = schedule(T0, T0 + period)
    sent: list[str] = []
    now = T0
    for gap in gaps:
        now += gap
        step = step_to_send(plan, now, sent)
        if step is not None:
            assert step == plan.step_at(now)
            sent.append(step)
    assert len(sent) <= 3
    ranks = [reminders.STEPS.index(s) for s in sent]
    assert ranks == sorted(set(ranks))
