"""Which of our signed summaries carry a figure (indicator, period, breakdown).

A correction of a validated or published figure says which summaries already left (or will
leave) the node with the old value: their period, revision and sha256, read from the signed
bytes themselves (``out_envelopes.raw``), not from the results table, since that is what the
twins and the secretariat hold. Only current revisions count (``superseded`` ones were already
replaced by a newer publication of the period). Imports only the network's models, so the
results service can use it without going through ``node.network.summaries`` (which reads the
services back).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.disaggregation import disaggregation_key
from node.network.models import OutEnvelope
from schemas.summary import SUMMARY_STREAM

Figure = tuple[str, str, str]  # (indicator code, period, breakdown key)


def summaries_carrying(
    session: Session, figures: Iterable[Figure]
) -> dict[Figure, list[dict[str, Any]]]:
    """For each figure, the current signed summaries whose payload holds it (may be empty).

    Each summary is ``{"period", "revision", "sha256", "audience"}``, in signing order.
    """
    wanted: dict[str, set[Figure]] = defaultdict(set)
    for figure in figures:
        wanted[figure[1]].add(figure)
    found: dict[Figure, list[dict[str, Any]]] = {}
    periods = sorted(wanted)
    for start in range(0, len(periods), 500):  # one query per 500 periods, not one per period
        envelopes = session.scalars(
            select(OutEnvelope)
            .where(
                OutEnvelope.stream == SUMMARY_STREAM,
                OutEnvelope.period.in_(periods[start : start + 500]),
                OutEnvelope.superseded.is_(False),
            )
            .order_by(OutEnvelope.seq)
        )
        for envelope in envelopes:
            period = envelope.period or ""
            carried = _figures_in(envelope.raw, period)
            for figure in wanted[period] & carried:
                found.setdefault(figure, []).append(
                    {
                        "period": period,
                        "revision": envelope.revision,
                        "sha256": envelope.sha256,
                        "audience": list(envelope.audience or []),
                    }
                )
    return found


def _figures_in(raw: str, period: str) -> set[Figure]:
    """The (indicator, period, breakdown key) of every figure a stored summary holds."""
    # Our own signed bytes, written by outbox.sign_and_store: trusted to be a summary, but read
    # defensively (a shape we do not recognise carries nothing rather than raising).
    payload = json.loads(raw).get("payload") or {}
    out: set[Figure] = set()
    for indicator in payload.get("indicators") or []:
        code = indicator.get("code")
        for result in indicator.get("results") or []:
            breakdown = result.get("disaggregation") or {}
            if isinstance(code, str) and isinstance(breakdown, dict):
                out.add((code, period, disaggregation_key(breakdown)))
    return out
