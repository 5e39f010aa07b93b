"""Reminders and escalations for the open deadlines of this node: the schedule and the sweep.

The rules (also in docs/reminders.md):

- **Three steps per due date.** ``upcoming`` a lead time before the due date, ``due`` at the due
  date, ``overdue`` :data:`OVERDUE_AFTER` (7 days) after it. The lead time is 7 days, or half
  the time between arming and the due date when that is shorter: a 7-day session-notes deadline
  reminds 3.5 days before, not on the day it was set. A deadline armed at or after its due date
  has no ``upcoming`` step.
- **Never a burst.** A person is sent the most advanced step reached, and only if no step at or
  beyond it was sent for this due date; a sweep that ran late (or a deadline armed late) sends
  one reminder, not the ones it missed. With three steps this also caps reminders at
  :data:`MAX_REMINDERS` (3) per person, deadline and due date; the cap is checked as well.
- **Moving the date re-arms.** Reminders are logged per due date: after :func:`deadlines.move`
  (or a new :func:`deadlines.arm`), the new date has its own three steps. A pending e-mail of the
  old date is dropped, never sent.
- **Escalation once per due date.** When the ``overdue`` step is reached the active users holding
  one of the deadline's ``escalation_roles`` are told once, except those already reminded as
  recipients (they have just had the ``overdue`` reminder).
- **Only open deadlines.** Nothing is sent for a met or closed deadline (closed objects,
  superseded ones); e-mails still waiting for a retry are dropped.
- **Only our users.** Recipients are active users of this node: those holding one of
  ``recipient_roles`` plus ``recipient_user_ids``. Reminders are never federated.
- **Logged before sent.** Each (deadline, due date, user, step) is one :class:`ReminderLog` row
  (unique), created with its in-app notification before any e-mail leaves. The e-mail copy goes
  through the configured SMTP server; a failure leaves it ``pending`` and the next sweeps retry
  it (backoff from 5 minutes, :data:`MAX_EMAIL_ATTEMPTS` tries) while its step is current.
- **Bounded runs.** A sweep looks at most ``batch_size`` deadlines, those whose next step or
  retry is due (:class:`DeadlineSweep` remembers when), least recently looked-at first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from node.config import NodeConfig
from node.db import session_scope
from node.models import User
from peer_review import notifications
from peer_review.mailer import Mailer, MailError, mailer_for
from peer_review.models import Deadline, DeadlineSweep, ReminderLog

STEPS = ("upcoming", "due", "overdue")
ESCALATION = "escalation"
MAX_LEAD = timedelta(days=7)
OVERDUE_AFTER = timedelta(days=7)
MAX_REMINDERS = 3
BATCH_SIZE = 50
MAX_EMAIL_ATTEMPTS = 10
RETRY_FIRST = timedelta(minutes=5)
RETRY_LONGEST = timedelta(hours=12)
MAIL_OFF = "e-mail off (no smtp_host): in-app only"
_MAX_ID = 2**31 - 1


# --- the schedule (pure) --------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """When each reminder step of one due date is reached."""

    upcoming_at: datetime
    due_at: datetime
    overdue_at: datetime

    def step_at(self, now: datetime) -> str | None:
        """The most advanced step reached at ``now`` (``None`` before ``upcoming_at``)."""
        if now >= self.overdue_at:
            return "overdue"
        if now >= self.due_at:
            return "due"
        if now >= self.upcoming_at:
            return "upcoming"
        return None

    def next_change(self, now: datetime) -> datetime | None:
        """When the next step is reached after ``now``; ``None`` once ``overdue`` is."""
        for moment in (self.upcoming_at, self.due_at, self.overdue_at):
            if now < moment:
                return moment
        return None


def schedule(armed_at: datetime, due_at: datetime) -> Schedule:
    """The steps of a deadline armed at ``armed_at`` and due at ``due_at``.

    The lead time of ``upcoming`` is 7 days, or half the armed period when that is shorter (so
    a short deadline is not reminded the moment it is set); no lead when armed at or after due.
    """
    period = max(due_at - armed_at, timedelta(0))
    lead = min(MAX_LEAD, period / 2)
    return Schedule(due_at - lead, due_at, due_at + OVERDUE_AFTER)


def step_to_send(plan: Schedule, now: datetime, sent: Collection[str]) -> str | None:
    """The reminder step to send one person now, given the steps already sent for this date.

    Only the most advanced step reached, only if nothing at or beyond it went out already, and
    never more than :data:`MAX_REMINDERS`: a late sweep sends one reminder, not a burst.
    """
    step = plan.step_at(now)
    if step is None:
        return None
    already = [s for s in sent if s in STEPS]
    if len(already) >= MAX_REMINDERS:
        return None
    rank = STEPS.index(step)
    if any(STEPS.index(s) >= rank for s in already):
        return None
    return step


def retry_delay(attempts: int) -> timedelta:
    """Wait before e-mail attempt ``attempts + 1``: 5 min, doubling, at most 12 h."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_LONGEST)


# --- texts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Texts:
    kind: str
    subject: str
    summary: str


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def texts(deadline: Deadline, step: str) -> Texts:
    """Notification kind, subject and one-paragraph summary of ``step`` for ``deadline``."""
    title, when = deadline.title, _when(deadline.due_at)
    if step == "upcoming":
        return Texts("reminder_upcoming", f"Due on {when}: {title}", f"“{title}” is due on {when}.")
    if step == "due":
        return Texts(
            "reminder_due", f"Due now: {title}", f"“{title}” is due now ({when}) and still open."
        )
    if step == "overdue":
        return Texts(
            "reminder_overdue",
            f"Overdue: {title}",
            f"“{title}” was due on {when} and is still open. This is the last reminder "
            "for this date.",
        )
    roles = ", ".join(deadline.escalation_roles)
    return Texts(
        "deadline_escalation",
        f"Overdue, escalated: {title}",
        f"“{title}” was due on {when} and is still open. The people responsible have been "
        f"reminded; you are told because deadlines escalate to your role ({roles}).",
    )


def email_body(summary: str, link: str | None, config: NodeConfig) -> str:
    """The plain-text e-mail: the summary, the link on this node, who sends it and why."""
    target = f"{config.base_url}{link or '/notifications'}"
    return (
        f"{summary}\n\nOpen it: {target}\n\n-- \nhrcnet, {config.name} ({config.base_url})\n"
        "You receive this as a user of this node. Reminders stop when the task is done, "
        "closed or withdrawn.\n"
    )


# --- the sweep -----------------------------------------------------------------------------------


@dataclass
class SweepReport:
    """What one sweep did, for the scheduler's log and the CLI."""

    mail: str
    deadlines: int = 0
    notifications: int = 0
    escalations: int = 0
    emails_sent: int = 0
    emails_retry: int = 0
    emails_failed: int = 0
    emails_dropped: int = 0
    batch_full: bool = False
    errors: list[str] = field(default_factory=list)

    def note(self, error: str) -> None:
        if error not in self.errors and len(self.errors) < 5:
            self.errors.append(error)

    def lines(self) -> list[str]:
        out = [
            f"{self.deadlines} deadlines looked at, {self.notifications} in-app notifications "
            f"({self.escalations} escalations)",
            f"{self.mail}: {self.emails_sent} sent, {self.emails_retry} to retry, "
            f"{self.emails_failed} given up, {self.emails_dropped} dropped",
        ]
        out += [f"e-mail problem: {error}" for error in self.errors]
        if self.batch_full:
            out.append("batch full: the next run continues")
        return out

    def summary(self) -> str:
        return "; ".join(self.lines())


def _users(session: Session, roles: Iterable[str], ids: Iterable[object]) -> list[User]:
    """Active users of this node holding one of ``roles`` or with one of ``ids``."""
    wanted_roles = [r for r in roles if isinstance(r, str)]
    # The JSON column holds what a service put there: keep real ids only (no database error).
    wanted_ids = [i for i in ids if isinstance(i, int) and 0 < i <= _MAX_ID]
    if not wanted_roles and not wanted_ids:
        return []
    return list(
        session.scalars(
            select(User)
            .where(User.active.is_(True), or_(User.role.in_(wanted_roles), User.id.in_(wanted_ids)))
            .order_by(User.id)
        )
    )


def _drop_stale(session: Session) -> int:
    """E-mails still waiting for a retry whose deadline ended or moved are never sent."""
    stale = exists().where(
        Deadline.id == ReminderLog.deadline_id,
        or_(Deadline.state != "open", Deadline.due_at != ReminderLog.due_at),
    )
    result = session.execute(
        update(ReminderLog)
        .where(ReminderLog.email_state == "pending", stale)
        .values(email_state="dropped", email_retry_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _due_deadlines(
    session: Session, now: datetime, batch_size: int
) -> list[tuple[Deadline, DeadlineSweep | None]]:
    """Open deadlines that may need something now: never looked at, moved, or whose next step
    or e-mail retry has come; least recently looked-at first so that none starves."""
    query = (
        select(Deadline, DeadlineSweep)
        .outerjoin(DeadlineSweep, DeadlineSweep.deadline_id == Deadline.id)
        .where(
            Deadline.state == "open",
            Deadline.due_at <= now + MAX_LEAD,  # no step can be reached before that
            or_(
                DeadlineSweep.deadline_id.is_(None),
                DeadlineSweep.due_at != Deadline.due_at,
                DeadlineSweep.next_at <= now,
            ),
        )
        .order_by(DeadlineSweep.checked_at.asc().nulls_first(), Deadline.due_at, Deadline.id)
        .limit(batch_size)
        # Two sweeps at once (the scheduler and `hrcnet job run`) take disjoint deadlines on
        # PostgreSQL; SQLite serialises writers anyway (the first write below waits).
        .with_for_update(of=Deadline, skip_locked=True)
    )
    return [(d, s) for d, s in session.execute(query)]


def _decide(
    session: Session,
    deadline: Deadline,
    user: User,
    step: str,
    now: datetime,
    mailer: Mailer | None,
) -> ReminderLog:
    words = texts(deadline, step)
    note = notifications.notify(
        session,
        user.id,
        kind=words.kind,
        title=words.subject,
        body=words.summary,
        link=deadline.link,
        now=now,
    )
    log = ReminderLog(
        deadline_id=deadline.id,
        due_at=deadline.due_at,
        user_id=user.id,
        step=step,
        notification_id=note.id,
        created_at=now,
        email_state="pending" if mailer is not None else "off",
        email_attempts=0,
    )
    session.add(log)
    return log


def _email(
    log: ReminderLog,
    deadline: Deadline,
    address: str,
    config: NodeConfig,
    now: datetime,
    mailer: Mailer,
    report: SweepReport,
) -> None:
    words = texts(deadline, log.step)
    body = email_body(words.summary, notifications.safe_link(deadline.link), config)
    log.email_attempts += 1
    try:
        mailer.send(address, f"[{config.name}] {words.subject}", body, now=now)
    except MailError as exc:
        # Not sent, so not logged as sent: retried by a later sweep unless it cannot succeed.
        log.email_error = exc.reason[:300]
        report.note(exc.reason)
        if exc.permanent or log.email_attempts >= MAX_EMAIL_ATTEMPTS:
            log.email_state, log.email_retry_at = "failed", None
            report.emails_failed += 1
        else:
            log.email_retry_at = now + retry_delay(log.email_attempts)
            report.emails_retry += 1
        return
    log.email_state, log.emailed_at, log.email_retry_at, log.email_error = "sent", now, None, None
    report.emails_sent += 1


def _sweep_deadline(
    session: Session,
    deadline: Deadline,
    progress: DeadlineSweep | None,
    config: NodeConfig,
    now: datetime,
    mailer: Mailer | None,
    report: SweepReport,
) -> None:
    plan = schedule(deadline.armed_at, deadline.due_at)
    step = plan.step_at(now)
    logs: dict[int, dict[str, ReminderLog]] = defaultdict(dict)
    for row in session.scalars(
        select(ReminderLog).where(
            ReminderLog.deadline_id == deadline.id, ReminderLog.due_at == deadline.due_at
        )
    ):
        logs[row.user_id][row.step] = row

    people: dict[int, User] = {}
    if step is not None:
        recipients = _users(session, deadline.recipient_roles, deadline.recipient_user_ids)
        for user in recipients:
            people[user.id] = user
            chosen = step_to_send(plan, now, logs[user.id].keys())
            if chosen is not None:
                logs[user.id][chosen] = _decide(session, deadline, user, chosen, now, mailer)
                report.notifications += 1
        if step == "overdue":
            for user in _users(session, deadline.escalation_roles, ()):
                if user.id in people:
                    continue  # a recipient: they have just had the overdue reminder
                people[user.id] = user
                if ESCALATION not in logs[user.id]:
                    logs[user.id][ESCALATION] = _decide(
                        session, deadline, user, ESCALATION, now, mailer
                    )
                    report.notifications += 1
                    report.escalations += 1

    # Which e-mails leave now: the current step's copy (new, or waiting for its retry). An older
    # step's copy still pending is dropped: sending it now would be the burst we avoid.
    outgoing: list[tuple[ReminderLog, str]] = []
    for user_id, steps in logs.items():
        for log in steps.values():
            if log.email_state != "pending" or mailer is None:
                continue
            current = log.step == step or (log.step == ESCALATION and step == "overdue")
            if not current or user_id not in people:
                log.email_state, log.email_retry_at = "dropped", None
                report.emails_dropped += 1
            elif log.email_retry_at is None or log.email_retry_at <= now:
                outgoing.append((log, people[user_id].email))
    # The unique key claims the reminders before any message leaves: a concurrent sweep fails
    # here instead of sending the same e-mail twice.
    session.flush()
    for log, address in outgoing:
        assert mailer is not None
        _email(log, deadline, address, config, now, mailer, report)

    waits = [plan.next_change(now)]
    if mailer is not None:
        waits += [
            log.email_retry_at
            for steps in logs.values()
            for log in steps.values()
            if log.email_state == "pending"
        ]
    next_at = min((w for w in waits if w is not None), default=None)
    if progress is None:
        progress = DeadlineSweep(deadline_id=deadline.id)
        session.add(progress)
    progress.due_at, progress.next_at, progress.checked_at = deadline.due_at, next_at, now


def sweep(
    session: Session,
    config: NodeConfig,
    now: datetime,
    mailer: Mailer | None,
    *,
    batch_size: int = BATCH_SIZE,
) -> SweepReport:
    """Send the reminders and escalations due at ``now``; flush, the caller commits.

    ``mailer`` is the node's SMTP mailer (:func:`peer_review.mailer.mailer_for`) or ``None`` for
    in-app notifications only. Idempotent: running it again at the same ``now`` sends nothing.
    """
    report = SweepReport(mail=mailer.description if mailer is not None else MAIL_OFF)
    report.emails_dropped += _drop_stale(session)
    rows = _due_deadlines(session, now, batch_size)
    report.batch_full = len(rows) >= batch_size
    for deadline, progress in rows:
        _sweep_deadline(session, deadline, progress, config, now, mailer, report)
        report.deadlines += 1
    session.flush()
    return report


def run_sweep(
    sessions: sessionmaker[Session],
    config: NodeConfig,
    now: datetime,
    *,
    batch_size: int = BATCH_SIZE,
) -> SweepReport:
    """One sweep as its own unit of work, with the node's mailer (the ``deadline_sweep`` job).

    Without ``smtp_host`` there is no mailer: in-app notifications only.
    """
    mailer = mailer_for(config)
    with mailer or nullcontext(), session_scope(sessions) as session:
        return sweep(session, config, now, mailer, batch_size=batch_size)
