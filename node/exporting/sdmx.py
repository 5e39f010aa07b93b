"""SDMX-JSON 2.1.0 data message of results (pure: result dicts in, JSON-able dict out).

Layout (validated against the official 2.1.0 schema in the tests):

- dataSet-level dimension ``REF_AREA``: the city (one value, its city id);
- series dimensions ``FREQ`` (A, S, Q, M), ``INDICATOR`` and one per disaggregation dimension
  used by any exported figure; a figure without that dimension has ``_T`` (total) there;
- observation dimension ``TIME_PERIOD`` in SDMX period formats: ``2025``, ``2025-S1`` (our
  ``2025-H1``), ``2025-Q3``, ``2025-07``, each with its start and end;
- measure ``OBS_VALUE``; series attribute ``UNIT_MEASURE`` (attached to INDICATOR) and
  observation attribute ``RESULT_STATUS`` (draft / validated / published).

Values: the 2.1.0 schema allows strings, numbers and booleans as observation values. Numbers
are written as exact decimal strings (``"12.50"``), because a JSON number would be read as a
binary float and lose exactness; boolean indicators are written as JSON ``true``/``false``. A
structure annotation ``VALUE_ENCODING`` says so in the message itself.

Codes of our catalogue may contain ``.``, which SDMX identifiers do not allow; such codes are
written with ``_`` and the original code is kept in an ``x-hrcnet-code`` extension property.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from node.catalogue_view import CatalogueView
from node.disaggregation import TOTAL_CODE, normalize
from node.exporting.tabular import (
    dimensions_used,
    export_value,
    sorted_results,
    utc_timestamp,
)
from schemas.periods import Period, parse_period

SDMX_JSON_SCHEMA = "https://json.sdmx.org/2.1/sdmx-json-data-schema.json"
FREQUENCIES = {
    "year": ("A", "Annual"),
    "half": ("S", "Half-yearly"),
    "quarter": ("Q", "Quarterly"),
    "month": ("M", "Monthly"),
}
STATUS_NAMES = {"draft": "Draft", "validated": "Validated", "published": "Published"}
RESERVED_IDS = {
    "REF_AREA",
    "FREQ",
    "INDICATOR",
    "TIME_PERIOD",
    "OBS_VALUE",
    "UNIT_MEASURE",
    "RESULT_STATUS",
}

_COMPONENT_BAD = re.compile(r"[^A-Za-z0-9_-]")
_VALUE_BAD = re.compile(r"[^A-Za-z0-9_@$-]")


def sdmx_period(period: str | Period) -> str:
    """Our period in SDMX notation: ``2025``, ``2025-S1``, ``2025-Q3``, ``2025-07``."""
    parsed = period if isinstance(period, Period) else parse_period(period)
    if parsed.kind == "half":
        return f"{parsed.year:04d}-S{parsed.index}"
    return str(parsed)  # years, quarters and months are written alike


def to_sdmx_json(
    results: Iterable[Mapping[str, Any]],
    catalogue: CatalogueView,
    node: Mapping[str, Any],
    prepared: datetime,
) -> dict[str, Any]:
    """An SDMX-JSON 2.1.0 data message of the results (see the module docstring).

    ``node`` gives ``city_id`` and ``name`` (and optionally ``base_url``, for a self link);
    ``prepared`` is the time of preparation (a naive datetime is taken as UTC). Raises
    ``ValueError`` for a figure whose indicator is not in the catalogue or that is given twice.
    """
    rows = sorted_results(results)
    for result in rows:
        if result["indicator"] not in catalogue.indicators:
            raise ValueError(f"indicator {result['indicator']} is not in the catalogue")
    dimension_codes = dimensions_used(rows, catalogue)
    component_ids = _unique_ids(
        dimension_codes, _COMPONENT_BAD, reserved=RESERVED_IDS, letter_first=True
    )
    periods = sorted({parse_period(result["period"]) for result in rows})
    frequencies = [code for code in FREQUENCIES if any(p.kind == code for p in periods)]
    indicators = list(dict.fromkeys(result["indicator"] for result in rows))
    breakdowns = [normalize(result.get("disaggregation") or {}) for result in rows]
    codes_by_dimension = {
        dim: _codes_in_order(dim, breakdowns, catalogue) for dim in dimension_codes
    }
    units = list(dict.fromkeys(catalogue.indicators[code].unit_code for code in indicators))
    statuses = list(dict.fromkeys(r["status"] for r in rows if r.get("status")))

    series_dimensions = [
        _dimension(
            "FREQ",
            "Frequency",
            1,
            [{"id": FREQUENCIES[kind][0], "name": FREQUENCIES[kind][1]} for kind in frequencies],
            roles=["FREQ"],
        ),
        _dimension("INDICATOR", "Indicator", 2, _indicator_values(indicators, catalogue)),
    ]
    for position, dim in enumerate(dimension_codes, start=3):
        info = catalogue.dimensions.get(dim)
        extra = {"x-hrcnet-code": dim} if component_ids[dim] != dim else {}
        series_dimensions.append(
            _dimension(
                component_ids[dim],
                info.label if info else dim,
                position,
                _code_values(codes_by_dimension[dim], info.codes if info else {}),
                extra=extra,
            )
        )
    time_dimension = _dimension(
        "TIME_PERIOD",
        "Time period",
        len(dimension_codes) + 3,
        [_period_value(period) for period in periods],
        roles=["TIME_PERIOD"],
    )

    frequency_index = {kind: i for i, kind in enumerate(frequencies)}
    indicator_index = {code: i for i, code in enumerate(indicators)}
    code_index = {
        dim: {code: i for i, code in enumerate(codes)} for dim, codes in codes_by_dimension.items()
    }
    period_index = {period: i for i, period in enumerate(periods)}
    unit_index = {code: i for i, code in enumerate(units)}
    status_index = {status: i for i, status in enumerate(statuses)}

    series: dict[str, dict[str, Any]] = {}
    for result, breakdown in zip(rows, breakdowns, strict=True):
        period = parse_period(result["period"])
        key = ":".join(
            str(part)
            for part in [
                frequency_index[period.kind],
                indicator_index[result["indicator"]],
                *(code_index[dim][breakdown.get(dim, TOTAL_CODE)] for dim in dimension_codes),
            ]
        )
        entry = series.setdefault(
            key,
            {
                "attributes": [unit_index[catalogue.indicators[result["indicator"]].unit_code]],
                "observations": {},
            },
        )
        observation_key = str(period_index[period])
        if observation_key in entry["observations"]:
            raise ValueError(f"{result['indicator']} {result['period']} {breakdown} is given twice")
        status = result.get("status")
        entry["observations"][observation_key] = [
            export_value(result["value"]),
            status_index[status] if status else None,
        ]

    structure: dict[str, Any] = {
        "name": f"Human rights city indicators: {node.get('name') or node['city_id']}",
        "links": _links(node),
        "dataSets": [0],
        "dimensions": {
            "dataSet": [
                _dimension(
                    "REF_AREA",
                    "Reference area (city)",
                    0,
                    [
                        {
                            "id": _unique_ids([node["city_id"]], _VALUE_BAD)[node["city_id"]],
                            "name": node.get("name") or node["city_id"],
                        }
                    ],
                    roles=["REF_AREA"],
                )
            ],
            "series": series_dimensions,
            "observation": [time_dimension],
        },
        "measures": {"observation": [{"id": "OBS_VALUE", "name": "Observation value"}]},
        "attributes": {
            "series": [
                _attribute(
                    "UNIT_MEASURE",
                    "Unit of measure",
                    {"dimensions": ["INDICATOR"]},
                    _unit_values(units, indicators, catalogue),
                    roles=["UNIT_MEASURE"],
                )
            ],
            "observation": [
                _attribute(
                    "RESULT_STATUS",
                    "Status of the figure",
                    {"observation": {}},
                    [{"id": s, "name": STATUS_NAMES.get(s, s)} for s in statuses],
                )
            ],
        },
        "annotations": [
            {
                "id": "VALUE_ENCODING",
                "type": "hrcnet",
                "title": "Observation values",
                "text": 'Numeric values are exact decimal strings (e.g. "12.50"); yes/no '
                "indicators are true or false. Dimensions not used by a figure are _T "
                "(total).",
            }
        ],
    }
    return {
        "$schema": SDMX_JSON_SCHEMA,
        "meta": {
            "schema": SDMX_JSON_SCHEMA,
            "id": _message_id(node["city_id"], prepared),
            "test": False,
            "prepared": utc_timestamp(prepared),
            "contentLanguages": ["en"],
            "sender": {
                "id": _unique_ids([node["city_id"]], _VALUE_BAD)[node["city_id"]],
                "name": node.get("name") or node["city_id"],
            },
        },
        "data": {
            "structures": [structure],
            "dataSets": [{"structure": 0, "action": "Information", "series": series}],
        },
    }


def _dimension(
    component_id: str,
    name: str,
    position: int,
    values: list[dict[str, Any]],
    *,
    roles: list[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    dimension: dict[str, Any] = {"id": component_id, "name": name, "keyPosition": position}
    if roles:
        dimension["roles"] = roles
    if values:  # the schema wants at least one value when "values" is present
        dimension["values"] = values
    dimension.update(extra or {})
    return dimension


def _attribute(
    component_id: str,
    name: str,
    relationship: dict[str, Any],
    values: list[dict[str, Any]],
    *,
    roles: list[str] | None = None,
) -> dict[str, Any]:
    attribute: dict[str, Any] = {"id": component_id, "name": name, "relationship": relationship}
    if roles:
        attribute["roles"] = roles
    if values:
        attribute["values"] = values
    return attribute


def _indicator_values(indicators: list[str], catalogue: CatalogueView) -> list[dict[str, Any]]:
    ids = _unique_ids(indicators, _VALUE_BAD)
    values = []
    for code in indicators:
        info = catalogue.indicators[code]
        value: dict[str, Any] = {
            "id": ids[code],
            "name": info.name,
            "description": f"Unit: {info.unit_label}",
        }
        if ids[code] != code:
            value["x-hrcnet-code"] = code
        values.append(value)
    return values


def _unit_values(
    units: list[str], indicators: list[str], catalogue: CatalogueView
) -> list[dict[str, Any]]:
    # A unit code may carry different labels per indicator ("percent of seats", "percent of
    # households"); the first one names the code here, the INDICATOR values give the rest.
    labels: dict[str, str] = {}
    for code in indicators:
        info = catalogue.indicators[code]
        labels.setdefault(info.unit_code, info.unit_label)
    ids = _unique_ids(units, _VALUE_BAD)
    return [{"id": ids[unit], "name": labels[unit]} for unit in units]


def _codes_in_order(
    dimension: str, breakdowns: list[dict[str, str]], catalogue: CatalogueView
) -> list[str]:
    """Codes of a dimension used by the figures: ``_T`` first (if used), then catalogue order."""
    used = {breakdown.get(dimension, TOTAL_CODE) for breakdown in breakdowns}
    info = catalogue.dimensions.get(dimension)
    order = [TOTAL_CODE] + [code for code in (info.codes if info else {}) if code != TOTAL_CODE]
    known = [code for code in order if code in used]
    return known + sorted(used - set(known))


def _code_values(codes: list[str], labels: Mapping[str, str]) -> list[dict[str, Any]]:
    ids = _unique_ids(codes, _VALUE_BAD)
    values = []
    for code in codes:
        name = "Total" if code == TOTAL_CODE else labels.get(code, code)
        value: dict[str, Any] = {"id": ids[code], "name": name}
        if ids[code] != code:
            value["x-hrcnet-code"] = code
        values.append(value)
    return values


def _period_value(period: Period) -> dict[str, Any]:
    return {
        "id": sdmx_period(period),
        "name": str(period),
        "start": f"{period.start.isoformat()}T00:00:00Z",
        "end": f"{period.end.isoformat()}T23:59:59Z",
    }


def _links(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    base_url = node.get("base_url")
    if not base_url:
        return []
    return [{"href": f"{str(base_url).rstrip('/')}/api/v1/export?format=sdmx-json", "rel": "self"}]


def _message_id(city_id: str, prepared: datetime) -> str:
    stamp = utc_timestamp(prepared).replace("-", "").replace(":", "")
    return _VALUE_BAD.sub("_", f"HRCNET-{city_id}-{stamp}")


def _unique_ids(
    codes: list[str],
    bad: re.Pattern[str],
    *,
    reserved: set[str] | None = None,
    letter_first: bool = False,
) -> dict[str, str]:
    """SDMX identifiers for our codes: unchanged when allowed, else made valid and unique."""
    taken = set(reserved or ())
    ids: dict[str, str] = {}
    for code in codes:
        candidate = bad.sub("_", code) or "X"
        if letter_first and not candidate[0].isalpha():
            candidate = "D" + candidate
        base, counter = candidate, 2
        while candidate in taken:
            candidate = f"{base}_{counter}"
            counter += 1
        taken.add(candidate)
        ids[code] = candidate
    return ids
