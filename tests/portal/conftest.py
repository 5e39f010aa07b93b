"""A node with published, validated and draft figures, and signed summaries, for the portal.

HRC-HOU-01 (evictions): published totals 19 (2024) and 18 (2025) with a baseline (20, 2020) and
a target (10, 2030); published by sex 2024 F 22 / M 16 and 2025 F 24 / M 14 (gap 6 then 10).
Never public: a *draft* 2025 figure for SEX=X (value ``DRAFT_VALUE``) and a *validated* 2023
total (``VALIDATED_VALUE``). 2025's and 2024's summaries carry only published figures (public);
2023's carries the validated figure, so it is not public.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support import Caller

DRAFT_VALUE = "61.37"
VALIDATED_VALUE = "21.37"
SOURCE = "Municipal housing office register"


def figure(code: str, period: str, value: str, status: str = "published", **breakdown: str) -> dict:
    return {
        "indicator": code,
        "period": period,
        "value": value,
        "status": status,
        "disaggregation": breakdown,
        "source": SOURCE,
        "method": "Count of court-ordered evictions",
    }


HOU = [
    figure("HRC-HOU-01", "2023", VALIDATED_VALUE, status="validated"),
    figure("HRC-HOU-01", "2024", "19"),
    figure("HRC-HOU-01", "2025", "18"),
    figure("HRC-HOU-01", "2024", "22", SEX="F"),
    figure("HRC-HOU-01", "2024", "16", SEX="M"),
    figure("HRC-HOU-01", "2025", "24", SEX="F"),
    figure("HRC-HOU-01", "2025", "14", SEX="M"),
    figure("HRC-HOU-01", "2025", DRAFT_VALUE, status="draft", SEX="X"),
    # An indicator with a draft only: the portal does not know it.
    figure("HRC-WAT-01", "2025", DRAFT_VALUE, status="draft"),
]


@pytest.fixture
def portal_data(client: FlaskClient, official: Caller) -> dict[str, Any]:
    """The figures above, a target, and the three summaries; returns the summaries by period."""
    target = {
        "indicator": "HRC-HOU-01",
        "baseline": {"period": "2020", "value": "20"},
        "target": {"period": "2030", "value": "10"},
    }
    assert client.post("/api/v1/targets", json=target, headers=official.headers).status_code == 200
    response = client.post("/api/v1/results", json=HOU, headers=official.headers)
    assert response.status_code == 201, response.get_json()
    summaries = {}
    for period in ("2023", "2024", "2025"):
        signed = client.post("/api/v1/summaries", json={"period": period}, headers=official.headers)
        assert signed.status_code == 201, signed.get_json()
        summaries[period] = signed.get_json()["items"][0]["envelope_sha256"]
    return summaries
