"""A core catalogue version that drops an indicator retires it: it becomes the city's own
(local) indicator, keeps every result, is no longer core, and is no longer compared across the
network (summaries' network copy, benchmarks). A later version can take it back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.errors import ConflictError
from node.models import Indicator, Result
from node.network import summaries
from node.services import catalogue
from tests.support import Caller

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
DROPPED = "HRC-HOU-01"


def release(shared_dir: Path, version: str, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The network's seed catalogue as version ``version``, without the ``drop`` indicators."""
    document = json.loads((shared_dir / "data" / "indicator_catalogue.json").read_text())
    document["version"] = version
    document["indicators"] = [i for i in document["indicators"] if i["code"] not in drop]
    return document


def _record(client: FlaskClient, official: Caller) -> None:
    local = {
        "code": "GENT-EVICT",
        "name": "Evictions reported to the city's housing desk",
        "right": "Adequate housing",
        "type": "outcome",
        "value_type": "number",
        "unit": {"code": "COUNT", "label": "evictions"},
        "direction": "good_down",
        "disaggregations": [],
        "maps_to": DROPPED,
    }
    created = client.post("/api/v1/indicators", json=local, headers=official.headers)
    assert created.status_code == 201, created.get_json()
    figures = [
        {"indicator": DROPPED, "period": "2025", "value": "12.5", "status": "validated"},
        {"indicator": DROPPED, "period": "2024", "value": "14", "status": "validated"},
        {"indicator": "GENT-EVICT", "period": "2025", "value": "40", "status": "validated"},
        {"indicator": "HRC-EDU-01", "period": "2025", "value": "91", "status": "validated"},
    ]
    stored = client.post("/api/v1/results", json=figures, headers=official.headers)
    assert stored.status_code == 201, stored.get_json()


def _results(session: Any, code: str) -> int:
    return session.scalar(select(func.count()).where(Result.indicator_code == code)) or 0


def test_a_version_without_an_indicator_retires_it_and_keeps_its_results(
    app: Any, db: Any, client: FlaskClient, official: Caller, shared_dir: Path
) -> None:
    config = app.extensions["hrcnet"].config
    _record(client, official)
    with db() as session:
        before = _results(session, DROPPED)
        report = catalogue.load_catalogue(
            session, release(shared_dir, "0.2.0", drop=(DROPPED,)), now=NOW
        )
    assert report.indicators_retired == [DROPPED]
    with db() as session:
        indicator = session.get(Indicator, DROPPED)
        assert indicator is not None
        assert (indicator.core, indicator.retired_in) == (False, "0.2.0")
        assert indicator.catalogue_version == "0.1.0"  # the last version it was core in
        assert catalogue.current_version(session) == "0.2.0"
        assert DROPPED not in {i.code for i in catalogue.list_indicators(session, core=True)}
        assert _results(session, DROPPED) == before == 2  # nothing deleted
        assert catalogue.indicator_to_wire(indicator)["retired_in"] == "0.2.0"

        # Twins still receive it, as the city's own indicator; the network's copy (the
        # secretariat's benchmarks) has neither it nor the local indicator mapped to it.
        to_twins = summaries.build_payload(session, config, "2025", None, 1, None)
        entry = next(i for i in to_twins["indicators"] if i["code"] == DROPPED)
        assert entry["core"] is False and entry["results"]
        to_network = summaries.build_payload(
            session, config, "2025", None, 1, None, comparable_only=True
        )
        assert [i["code"] for i in to_network["indicators"]] == ["HRC-EDU-01"]


def test_a_later_version_can_take_a_retired_indicator_back(
    db: Any, client: FlaskClient, official: Caller, shared_dir: Path
) -> None:
    _record(client, official)
    with db() as session:
        catalogue.load_catalogue(session, release(shared_dir, "0.2.0", drop=(DROPPED,)), now=NOW)
    with db() as session:
        report = catalogue.load_catalogue(session, release(shared_dir, "0.3.0"), now=NOW)
    assert report.indicators_retired == []
    with db() as session:
        indicator = session.get(Indicator, DROPPED)
        assert indicator is not None
        assert (indicator.core, indicator.retired_in, indicator.catalogue_version) == (
            True,
            None,
            "0.3.0",
        )
        assert _results(session, DROPPED) == 2


def test_a_genuine_local_indicator_never_becomes_core(
    db: Any, client: FlaskClient, official: Caller, shared_dir: Path
) -> None:
    _record(client, official)
    document = release(shared_dir, "0.2.0")
    taken = dict(document["indicators"][0], code="GENT-EVICT")
    document["indicators"].append(taken)
    with db() as session, pytest.raises(ConflictError):
        catalogue.load_catalogue(session, document, now=NOW)
