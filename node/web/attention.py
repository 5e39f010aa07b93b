"""What needs attention, for the dashboard of a signed-in user: one list per kind of work, every
item linking to the page where it is handled.

Composition only: it reads what the services already know and decides nothing new.

- missing figures for the reporting year (:func:`node.services.overview.missing_for_period`);
- off-track outcomes: outcome indicators whose total or a breakdown is off track against its
  target (:func:`node.services.monitoring.progress`'s rule);
- widening equality gaps (:mod:`node.equality`'s rule);
- this user's open review and mentoring tasks and their deadlines: the open rows of the
  workflows' deadline table (``peer_review.models.Deadline``), which the review and mentoring
  services arm when an object waits for someone on this node and close when it no longer does;
  each names its recipients (roles, user ids) and the page where they act;
- delivery failures to twins (outbox dead letters, failing or unavailable peers) through
  :func:`node.services.network_status.network_status`, for those who may see the network status.

Import direction: this module is part of the pages (``node.web``), above the core; it imports
the core services and the shared peer-review tables, never a feature package's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.models import User
from node.permissions import allowed
from node.services.network_status import network_status
from node.services.overview import IndicatorGap, missing_for_period
from peer_review.models import Deadline

__all__ = ["AttentionItem", "AttentionSection", "attention_sections", "open_deadlines_for"]

DEADLINES_SHOWN = 50  # the soonest; the reviews and mentoring pages list them all


@dataclass(frozen=True)
class AttentionItem:
    """One thing to do: what, where it is handled, and (for deadlines) when it is due."""

    text: str
    link: str | None
    due_at: datetime | None = None
    overdue: bool = False


@dataclass(frozen=True)
class AttentionSection:
    """A kind of work, its one-line explanation, and its items."""

    key: str
    title: str
    hint: str
    items: list[AttentionItem] = field(default_factory=list)


def open_deadlines_for(
    session: Session, user: User, *, limit: int = DEADLINES_SHOWN
) -> list[Deadline]:
    """The open deadlines whose recipients include ``user`` (by id or role), soonest first.

    The recipients are JSON lists, so they are matched here rather than in SQL; the open rows
    are few (one per waiting workflow object) and read soonest first.
    """
    rows = session.scalars(
        select(Deadline).where(Deadline.state == "open").order_by(Deadline.due_at, Deadline.id)
    )
    mine = [
        row
        for row in rows
        if user.id in (row.recipient_user_ids or []) or user.role in (row.recipient_roles or [])
    ]
    return mine[:limit]


def _deadline_section(
    session: Session, user: User, now: datetime, safe_link: Callable[[str], bool]
) -> AttentionSection:
    items = [
        AttentionItem(
            # The link was written by this node's own services; it is still checked to be a
            # path on this site before it becomes a link (a title or link can carry text that
            # arrived from a peer).
            text=row.title,
            link=row.link if safe_link(row.link) else None,
            due_at=row.due_at,
            overdue=row.due_at <= now,
        )
        for row in open_deadlines_for(session, user)
    ]
    return AttentionSection(
        "tasks",
        _("Your review and mentoring tasks"),
        _("Work waiting for you in peer reviews and mentoring, soonest deadline first."),
        items,
    )


def _missing_section(session: Session, user: User, now: datetime) -> AttentionSection:
    year, missing = missing_for_period(session, now=now)
    can_enter = allowed(user, "results.write")
    items = [
        AttentionItem(
            _(
                "%(code)s %(name)s: last figures for %(period)s",
                code=m.indicator,
                name=m.name,
                period=m.last_period,
            ),
            url_for("web.enter", indicator=m.indicator)
            if can_enter
            else url_for("web.indicator_page", code=m.indicator),
        )
        for m in missing
    ]
    return AttentionSection(
        "missing",
        _("Missing figures for %(year)s", year=year),
        _(
            "Indicators with earlier figures but none yet for %(year)s, the last full year.",
            year=year,
        ),
        items,
    )


def _off_track_section(rows: Sequence[dict[str, Any]]) -> AttentionSection:
    items = []
    for row in rows:
        if row["type"] != "outcome":
            continue
        behind = [b for b in row.get("breakdowns", []) if b["status"] == "off_track"]
        if row["status"] != "off_track" and not behind:
            continue
        if row["status"] == "off_track":
            text = _("%(code)s %(name)s: off track", code=row["indicator"], name=row["name"])
        else:
            text = ngettext(
                "%(code)s %(name)s: %(num)d breakdown off track",
                "%(code)s %(name)s: %(num)d breakdowns off track",
                len(behind),
                code=row["indicator"],
                name=row["name"],
            )
        items.append(
            AttentionItem(text, url_for("web.indicator_page", code=row["indicator"]) + "#progress")
        )
    return AttentionSection(
        "off_track",
        _("Outcomes off track"),
        _("Behind the straight line from the baseline to the target."),
        items,
    )


def _gap_section(
    gaps: Sequence[IndicatorGap], ground_label: Callable[[str], str]
) -> AttentionSection:
    items = [
        AttentionItem(
            _(
                "%(code)s %(name)s: the gap by %(ground)s is widening",
                code=gap.indicator,
                name=gap.name,
                ground=ground_label(gap.series.ground),
            ),
            url_for("web.indicator_page", code=gap.indicator) + f"#chart-gap-{gap.series.ground}",
        )
        for gap in gaps
        if gap.series.trend == "widening"
    ]
    return AttentionSection(
        "widening",
        _("Equality gaps widening"),
        _("The distance between the best- and worst-off groups grew since the previous period."),
        items,
    )


def _delivery_section(session: Session) -> AttentionSection:
    status = network_status(session, dead_letter_limit=0)
    link = url_for("network_web.status_page")
    items = []
    for peer in status.peers:
        if peer.dead_letters:
            items.append(
                AttentionItem(
                    ngettext(
                        "%(city)s refused %(num)d message for good",
                        "%(city)s refused %(num)d messages for good",
                        peer.dead_letters,
                        city=peer.city_id,
                    ),
                    link,
                )
            )
        if peer.unavailable or peer.failures:
            items.append(
                AttentionItem(
                    ngettext(
                        "%(city)s cannot be reached: %(num)d failed attempt",
                        "%(city)s cannot be reached: %(num)d failed attempts",
                        peer.failures,
                        city=peer.city_id,
                    ),
                    link,
                )
            )
    return AttentionSection(
        "delivery",
        _("Messages not delivered to twin cities"),
        _("Messages a twin city refused, or could not receive yet."),
        items,
    )


def attention_sections(
    session: Session,
    user: User,
    *,
    now: datetime,
    rows: Sequence[dict[str, Any]],
    gaps: Sequence[IndicatorGap],
    ground_label: Callable[[str], str],
    safe_link: Callable[[str], bool],
) -> list[AttentionSection]:
    """Every section for ``user``, in the order of the day's work (empty ones included: the
    page says "nothing" rather than hiding that it looked)."""
    sections = [
        _deadline_section(session, user, now, safe_link),
        _missing_section(session, user, now),
        _off_track_section(rows),
        _gap_section(gaps, ground_label),
    ]
    if allowed(user, "network.status"):
        sections.append(_delivery_section(session))
    return sections
