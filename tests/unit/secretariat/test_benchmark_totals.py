"""Which figure of a summary stands for a core indicator in the benchmarks.

Found by the demo network: Los Angeles reports HRC-HOU-04 (persons per 10,000 residents)
directly and also has two local indicators mapped to it, a count and a percent. The mapped
ones came later in the payload and overwrote the city's own figure (1.04 % counted as 1.04
per 10,000), ranking the city first instead of last.
"""

from __future__ import annotations

from typing import Any

from node.secretariat.benchmarks import _totals

CORE = frozenset({"HRC-HOU-04"})


def _indicator(code: str, value: str, *, core: bool, maps_to: str | None = None) -> dict[str, Any]:
    return {
        "code": code,
        "core": core,
        "maps_to": maps_to,
        "value_type": "number",
        "results": [{"disaggregation": {}, "value": value}],
    }


def test_the_direct_core_figure_wins_over_mapped_local_ones() -> None:
    payload = {
        "indicators": [
            _indicator("HRC-HOU-04", "104", core=True),
            _indicator("LA-11-1-1-PIT", "41290", core=False, maps_to="HRC-HOU-04"),
            _indicator("LA-11-1-1-PT", "1.04", core=False, maps_to="HRC-HOU-04"),
        ]
    }
    assert _totals(payload, CORE) == {"HRC-HOU-04": "104"}


def test_a_mapped_local_figure_stands_in_when_there_is_no_direct_one() -> None:
    payload = {"indicators": [_indicator("LOCAL-A", "12", core=False, maps_to="HRC-HOU-04")]}
    assert _totals(payload, CORE) == {"HRC-HOU-04": "12"}
