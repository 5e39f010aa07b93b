"""What accepting a summary costs in SQL statements (issue 14, fourth round).

The rule (docs/performance.md, "Issue 14, fourth round"): a twin's summary is stored with a
fixed number of statements whatever its size — its figures in ONE executemany, nothing read
back that was just written — and the checks before it read what they need once: the peer with
its keys (one query), replay/equivocation/rollback (one index seek), the summary's revisions for
the period (one query). So a first summary for a period is 6 statements: those three, then the
envelope, the summary row and the figures; a correction adds the UPDATE that marks the older
revision no longer current. Before this round both were 10: the keys in a second query, two
replay queries, two revision queries, and the UPDATE even when it could match nothing.

Counted on the receiver's engine around the pipeline as the transports call it, on SQLite and
PostgreSQL (fifth round: there the figures are one INSERT of five unnested arrays, not an
executemany, which psycopg sent as one prepared INSERT per figure; still one statement; sixth
round: one statement for the summary row and its figures, so 5 there).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, inspect, select

from federation.canonical import canonical_bytes
from federation.envelope import make_envelope, sign_envelope
from node.db import session_scope
from node.network import inbox
from node.network.models import InEnvelope, ReceivedFigure, ReceivedSummary
from tests.federation.conftest import BACKENDS, Node, twin
from tests.federation.test_inbox_refusals import summary_payload

FIRST_SUMMARY_STATEMENTS = 6  # peer+keys, replay seek, revisions, envelope, summary, figures


def _first_summary_statements(node: Node) -> int:
    """6, or 5 on PostgreSQL (sixth round): there the summary row and its figures are one
    statement (an INSERT whose WITH part inserts the summary)."""
    postgres = node.runtime.engine.dialect.name == "postgresql"
    return FIRST_SUMMARY_STATEMENTS - 1 if postgres else FIRST_SUMMARY_STATEMENTS


@pytest.fixture
def pair(network):  # type: ignore[no-untyped-def]
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    return gent, padova


def _summary(sender: Node, *, seq: int, period: str, revision: int, figures: int) -> bytes:
    payload = summary_payload(sender, period=period, revision=revision)
    indicator = payload["indicators"][0]
    payload["indicators"] = []
    for i in range(figures):
        item = copy.deepcopy(indicator)
        item["code"] = f"HRC-HOU-{i:02d}"
        payload["indicators"].append(item)
    env = make_envelope(
        "hrc.summary",
        "hrc.summary/1",
        sender.city_id,
        "summaries",
        seq,
        int(sender.clock().timestamp() * 1000),
        sender.key.key_id,
        ["it-padova"],
        payload,
    )
    return canonical_bytes(sign_envelope(env, sender.city_id, sender.key))


@contextmanager
def _statements(node: Node) -> Iterator[list[str]]:
    """The SQL statements the node's engine runs meanwhile (an executemany counts once)."""
    seen: list[str] = []
    engine = node.runtime.engine

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _ingest(node: Node, raw: bytes, sender: str) -> list[str]:
    runtime = node.runtime
    with _statements(node) as seen, session_scope(runtime.sessions) as session:
        status = inbox.ingest_envelope(
            session,
            runtime.config,
            raw,
            registry=runtime.inbound,
            now=runtime.now(),
            via="push",
            sender=sender,
        )
    assert status == 202
    return seen


def _figures_stored(node: Node) -> int:
    with session_scope(node.runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(ReceivedFigure)) or 0


@pytest.mark.parametrize("federation_backend", BACKENDS, indirect=True)
def test_a_summary_costs_the_same_statements_whatever_its_size(pair) -> None:  # type: ignore[no-untyped-def]
    gent, padova = pair
    small = _ingest(
        padova, _summary(gent, seq=101, period="2024", revision=1, figures=1), "be-gent"
    )
    large = _ingest(
        padova, _summary(gent, seq=102, period="2025", revision=1, figures=60), "be-gent"
    )
    assert len(small) == len(large) == _first_summary_statements(padova), large
    figure_inserts = [s for s in large if "INSERT INTO received_figures" in s]
    assert len(figure_inserts) == 1  # one statement (or executemany) for the 60 figures
    assert sum("INSERT INTO received_summaries" in s for s in large) == 1
    assert _figures_stored(padova) == 61
    # Nothing is read back after it is written: every SELECT comes before the first INSERT.
    first_insert = next(i for i, s in enumerate(large) if s.startswith("INSERT"))
    assert not any(s.startswith("SELECT") for s in large[first_insert:])


@pytest.mark.parametrize("federation_backend", BACKENDS, indirect=True)
def test_a_correction_adds_only_the_update_of_the_older_revision(pair) -> None:  # type: ignore[no-untyped-def]
    gent, padova = pair
    _ingest(padova, _summary(gent, seq=101, period="2025", revision=1, figures=3), "be-gent")
    seen = _ingest(padova, _summary(gent, seq=102, period="2025", revision=2, figures=3), "be-gent")
    assert len(seen) == _first_summary_statements(padova) + 1, seen
    assert sum(s.startswith("UPDATE received_summaries") for s in seen) == 1
    with session_scope(padova.runtime.sessions) as session:
        rows = session.execute(
            select(ReceivedSummary.revision, ReceivedSummary.current).order_by(
                ReceivedSummary.revision
            )
        ).all()
    assert [tuple(row) for row in rows] == [(1, False), (2, True)]


def _envelope_row(seq: int, now: Any) -> InEnvelope:
    return InEnvelope(
        origin="be-gent",
        stream="summaries",
        seq=seq,
        type="hrc.summary",
        key_id="k1",
        created_ts=1,
        sha256="ab" * 32,
        raw='{"x":1}',
        received_at=now,
        via="push",
    )


def test_store_leaves_the_envelope_persistent_with_its_row_as_a_flush_would(pair) -> None:  # type: ignore[no-untyped-def]
    _gent, padova = pair
    now = padova.runtime.now()
    with session_scope(padova.runtime.sessions) as session:
        row = inbox.store(session, _envelope_row(7, now))
        assert inspect(row).persistent and row.id is not None
        assert session.get(InEnvelope, row.id) is row  # the session's own object, not a copy
        assert inbox.store(session, row) is row  # a second call writes nothing more
        # Written through a cascade before store() is called: store() only confirms it.
        cascaded = _envelope_row(8, now)
        session.add(
            ReceivedSummary(
                envelope=cascaded,
                origin="be-gent",
                period="2025",
                revision=1,
                current=True,
                received_at=now,
            )
        )
        assert inbox.store(session, cascaded) is cascaded and cascaded.id is not None
    with session_scope(padova.runtime.sessions) as session:
        stored = session.execute(
            select(InEnvelope.seq, InEnvelope.raw, InEnvelope.received_at)
            .where(InEnvelope.stream == "summaries")
            .order_by(InEnvelope.seq)
        ).all()
    assert [(seq, raw) for seq, raw, _ in stored] == [(7, '{"x":1}'), (8, '{"x":1}')]
    assert stored[0][2] == now


@pytest.mark.parametrize("federation_backend", BACKENDS, indirect=True)
def test_the_figures_are_stored_as_sent_in_their_order(pair) -> None:  # type: ignore[no-untyped-def]
    """Whatever the statement that writes them (PostgreSQL: one INSERT with the summary row,
    the figures as one JSON text; SQLite: the driver's executemany), each figure is one row, in
    document order, with its indicator, mapping (or NULL), breakdown key and value text, and
    belongs to the summary row, which holds the envelope's id, period, revision, catalogue
    version and time of receipt."""
    gent, padova = pair
    payload = summary_payload(gent, period="2025", revision=1)
    base = payload["indicators"][0]
    mapped = {**copy.deepcopy(base), "code": "HRC-HOU-02", "maps_to": "HRC-HOU-01"}
    mapped["results"] = [
        {"disaggregation": {"SEX": "F", "AGE_GROUP": "Y_LT18"}, "value": "-0.25"},
        {"disaggregation": {"SEX": "M"}, "value": "1000000"},
        {"disaggregation": {}, "value": True},
    ]
    payload["indicators"].append(mapped)
    env = make_envelope(
        "hrc.summary",
        "hrc.summary/1",
        gent.city_id,
        "summaries",
        101,
        int(gent.clock().timestamp() * 1000),
        gent.key.key_id,
        ["it-padova"],
        payload,
    )
    _ingest(padova, canonical_bytes(sign_envelope(env, gent.city_id, gent.key)), "be-gent")
    with session_scope(padova.runtime.sessions) as session:
        rows = session.execute(
            select(
                ReceivedFigure.indicator,
                ReceivedFigure.maps_to,
                ReceivedFigure.disaggregation_key,
                ReceivedFigure.value_text,
            ).order_by(ReceivedFigure.id)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("HRC-HOU-01", None, "", "12.5"),
        ("HRC-HOU-02", "HRC-HOU-01", "AGE_GROUP=Y_LT18|SEX=F", "-0.25"),
        ("HRC-HOU-02", "HRC-HOU-01", "SEX=M", "1000000"),
        ("HRC-HOU-02", "HRC-HOU-01", "", "true"),
    ]
    with session_scope(padova.runtime.sessions) as session:
        summary = session.scalars(select(ReceivedSummary)).one()
        envelope = session.scalars(select(InEnvelope).where(InEnvelope.type == "hrc.summary")).one()
        owners = set(session.scalars(select(ReceivedFigure.summary_id)))
        assert owners == {summary.id}
        assert (summary.envelope_id, summary.origin, summary.period, summary.revision) == (
            envelope.id,
            "be-gent",
            "2025",
            1,
        )
        assert summary.current is True
        assert summary.catalogue_version == payload.get("catalogue_version")
        assert summary.received_at == envelope.received_at
        assert summary.received_at.utcoffset() is not None
