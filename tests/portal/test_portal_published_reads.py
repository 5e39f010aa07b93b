"""The portal's published indicators and years (issue 14, seventh round), read from
``results_latest`` and by two walks of ``ix_results_period_end`` instead of the figures, equal
the plain definitions over the figures after every kind of write: figures of every status,
publication, a figure sent back to draft, a correction. Real app, both databases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from node.models import Result
from node.portal import services
from tests.portal.conftest import figure
from tests.support import Caller


def _plain(session: Any) -> tuple[list[str], list[int]]:
    """The definitions: indicators with a published figure; the years from the earliest to
    the latest end of a published figure's period, newest first."""
    rows = session.execute(
        select(Result.indicator_code, Result.period_end).where(Result.status == "published")
    ).all()
    codes = sorted({code for code, _end in rows})
    years = sorted({end.year for _code, end in rows})
    return codes, list(range(years[-1], years[0] - 1, -1)) if years else []


def _portal(session: Any) -> tuple[list[str], list[int]]:
    codes = [indicator.code for indicator in services.published_indicators(session)]
    return codes, services.published_years(session)


def test_published_indicators_and_years_follow_every_write(
    client: FlaskClient, official: Caller, db: Callable[[], Any]
) -> None:
    def check(codes: list[str], years: list[int]) -> None:
        with db() as session:
            assert _portal(session) == (codes, years)
            assert _plain(session) == (codes, years)

    def post(figures: list[dict[str, Any]]) -> None:
        response = client.post("/api/v1/results", json=figures, headers=official.headers)
        assert response.status_code == 201, response.get_json()

    def status(body: dict[str, Any]) -> None:
        response = client.post("/api/v1/results/status", json=body, headers=official.headers)
        assert response.status_code == 200, response.get_json()

    check([], [])
    post(
        [
            # Earlier and later than any published figure, but not published: no year.
            figure("HRC-HOU-01", "2019", "30", status="validated"),
            figure("HRC-HOU-01", "2027", "31", status="draft"),
            figure("HRC-HOU-01", "2022-Q4", "19"),  # ends 2022-12-31
            figure("HRC-HOU-01", "2024-01", "18", SEX="F"),  # starts the next year's range
            # An indicator with drafts only, one with a validated figure only: not published.
            figure("HRC-WAT-01", "2018", "12", status="draft"),
            figure("HRC-HEA-01", "2030", "40", status="validated"),
        ]
    )
    check(["HRC-HOU-01"], [2024, 2023, 2022])
    status({"status": "published", "indicator": "HRC-HOU-01", "period": "2019"})
    check(["HRC-HOU-01"], [2024, 2023, 2022, 2021, 2020, 2019])
    status({"status": "published", "indicator": "HRC-HEA-01", "period": "2030"})
    check(["HRC-HEA-01", "HRC-HOU-01"], list(range(2030, 2018, -1)))
    # Every published figure of HRC-HOU-01 back to draft: it leaves the list; its years too.
    for period in ("2019", "2022-Q4", "2024-01"):
        status({"status": "draft", "indicator": "HRC-HOU-01", "period": period, "reason": "x"})
    check(["HRC-HEA-01"], [2030])
    # A correction of the published figure (same identity, new value) keeps it published.
    post([figure("HRC-HEA-01", "2030", "41") | {"reason": "corrected count"}])
    check(["HRC-HEA-01"], [2030])
