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

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.catalogue_view import CatalogueView
from node.disaggregation import TOTAL_CODE, normalize, parse_key
from node.exporting.tabular import (
    PerKey,
    StoredBatches,
    StoredRow,
    dimensions_used,
    export_value,
    exported_text,
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


@dataclass(frozen=True)
class Summary:
    """What the results to export use, as a database can answer it without reading them all:
    indicator codes in export order, periods, breakdowns (normalised) and statuses in order of
    first appearance in the export."""

    indicators: list[str]
    periods: list[str]
    breakdowns: list[dict[str, str]]
    statuses: list[str]


class _Used:
    """What a set of results uses: the header of a message is built from this alone.

    Filled one result at a time (``add``), in the exported order, so a streamed export can
    gather it in a first pass without holding the results.
    """

    def __init__(self, catalogue: CatalogueView) -> None:
        self.catalogue = catalogue
        self.indicators: dict[str, None] = {}
        self.periods: set[Period] = set()
        self.breakdowns: set[tuple[tuple[str, str], ...]] = set()
        self.statuses: dict[str, None] = {}

    def take(self, summary: Summary) -> None:
        for code in summary.indicators:
            if code not in self.catalogue.indicators:
                raise ValueError(f"indicator {code} is not in the catalogue")
            self.indicators.setdefault(code)
        self.periods.update(parse_period(period) for period in summary.periods)
        self.breakdowns.update(tuple(normalize(b).items()) for b in summary.breakdowns)
        for status in summary.statuses:
            self.statuses.setdefault(status)

    def add(self, result: Mapping[str, Any]) -> None:
        if result["indicator"] not in self.catalogue.indicators:
            raise ValueError(f"indicator {result['indicator']} is not in the catalogue")
        self.indicators.setdefault(result["indicator"])
        self.periods.add(parse_period(result["period"]))
        self.breakdowns.add(tuple(normalize(result.get("disaggregation") or {}).items()))
        if result.get("status"):
            self.statuses.setdefault(result["status"])


class _Plan:
    """The message's dimensions and the index of every value in them."""

    def __init__(self, used: _Used) -> None:
        catalogue = used.catalogue
        self.catalogue = catalogue
        breakdowns = [dict(b) for b in sorted(used.breakdowns)]
        self.dimension_codes = dimensions_used(
            [{"disaggregation": b} for b in breakdowns], catalogue
        )
        self.component_ids = _unique_ids(
            self.dimension_codes, _COMPONENT_BAD, reserved=RESERVED_IDS, letter_first=True
        )
        self.periods = sorted(used.periods)
        self.frequencies = [
            code for code in FREQUENCIES if any(p.kind == code for p in self.periods)
        ]
        self.indicators = list(used.indicators)
        self.codes_by_dimension = {
            dim: _codes_in_order(dim, breakdowns, catalogue) for dim in self.dimension_codes
        }
        self.units = list(
            dict.fromkeys(catalogue.indicators[code].unit_code for code in self.indicators)
        )
        self.statuses = list(used.statuses)
        self.frequency_index = {kind: i for i, kind in enumerate(self.frequencies)}
        self.indicator_index = {code: i for i, code in enumerate(self.indicators)}
        self.code_index = {
            dim: {code: i for i, code in enumerate(codes)}
            for dim, codes in self.codes_by_dimension.items()
        }
        self.period_index = {period: i for i, period in enumerate(self.periods)}
        self.unit_index = {code: i for i, code in enumerate(self.units)}
        self.status_index = {status: i for i, status in enumerate(self.statuses)}

    def series(self, rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """The series of sorted ``rows`` (all of them, or all of one indicator's)."""
        series: dict[str, dict[str, Any]] = {}
        dimension_codes = self.dimension_codes
        periods: dict[str, Period] = {}
        for result in rows:
            breakdown = normalize(result.get("disaggregation") or {})
            period = periods.get(result["period"]) or periods.setdefault(
                result["period"], parse_period(result["period"])
            )
            key = ":".join(
                str(part)
                for part in [
                    self.frequency_index[period.kind],
                    self.indicator_index[result["indicator"]],
                    *(
                        self.code_index[dim][breakdown.get(dim, TOTAL_CODE)]
                        for dim in dimension_codes
                    ),
                ]
            )
            entry = series.setdefault(
                key,
                {
                    "attributes": [
                        self.unit_index[self.catalogue.indicators[result["indicator"]].unit_code]
                    ],
                    "observations": {},
                },
            )
            observation_key = str(self.period_index[period])
            if observation_key in entry["observations"]:
                raise ValueError(
                    f"{result['indicator']} {result['period']} {breakdown} is given twice"
                )
            status = result.get("status")
            entry["observations"][observation_key] = [
                export_value(result["value"]),
                self.status_index[status] if status else None,
            ]
        return series

    def stored_series(self, code: str, rows: Iterable[StoredRow]) -> dict[str, dict[str, Any]]:
        """:meth:`series` of one indicator's sorted stored rows (:data:`StoredRow` tuples).

        The same series, keys and observations in the same order; what depends on a period or
        a disaggregation key alone is computed once per period and per key, not per figure.
        """
        series: dict[str, dict[str, Any]] = {}
        head = ":" + str(self.indicator_index[code])
        unit = self.unit_index[self.catalogue.indicators[code].unit_code]
        by_period: dict[str, tuple[str, str]] = {}
        by_key: dict[str, str] = {}
        values = PerKey(_observation_value)  # one per distinct stored value of the indicator
        for period_text, value_text, status, key, _source, _method, _note in rows:
            found = by_period.get(period_text)
            if found is None:
                period = parse_period(period_text)
                found = by_period[period_text] = (
                    str(self.frequency_index[period.kind]) + head,
                    str(self.period_index[period]),
                )
            suffix = by_key.get(key)
            if suffix is None:
                breakdown = normalize(parse_key(key))
                suffix = by_key[key] = "".join(
                    ":" + str(self.code_index[dim][breakdown.get(dim, TOTAL_CODE)])
                    for dim in self.dimension_codes
                )
            series_key = found[0] + suffix
            entry = series.get(series_key)
            if entry is None:
                entry = series[series_key] = {"attributes": [unit], "observations": {}}
            observations = entry["observations"]
            if found[1] in observations:
                breakdown = normalize(parse_key(key))
                raise ValueError(f"{code} {period_text} {breakdown} is given twice")
            observations[found[1]] = [
                values[value_text],
                self.status_index[status] if status else None,
            ]
        return series


def _observation_value(value_text: str) -> str | bool:
    """A stored value as an observation's value: ``export_value`` of it (bool or text)."""
    if value_text in ("true", "false"):
        return value_text == "true"
    return exported_text(value_text)


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
    used = _Used(catalogue)
    for result in rows:
        used.add(result)
    plan = _Plan(used)
    return _message(plan, node, prepared, plan.series(rows))


def iter_sdmx_json_stored(
    batches: StoredBatches,
    catalogue: CatalogueView,
    node: Mapping[str, Any],
    prepared: datetime,
    *,
    summary: Summary,
) -> Iterator[str]:
    """:func:`to_sdmx_json`'s text, streamed from stored rows, one (code, rows) batch per indicator.

    The header comes from ``summary`` (what the database answers without reading the figures);
    the series of each batch from :meth:`_Plan.stored_series`.
    """
    used = _Used(catalogue)
    used.take(summary)
    plan = _Plan(used)
    marker = f"hrcnet-series-{uuid.uuid4().hex}"
    text = json.dumps(_message(plan, node, prepared, marker), ensure_ascii=False)
    head, tail = text.split(json.dumps(marker), 1)
    yield head + "{"
    first = True
    for code, rows in batches():
        if not rows:
            continue
        parts = [
            f"{json.dumps(key)}: {json.dumps(entry, ensure_ascii=False)}"
            for key, entry in plan.stored_series(code, rows).items()
        ]
        yield ("" if first else ", ") + ", ".join(parts)
        first = False
    yield "}" + tail


def _message(
    plan: _Plan, node: Mapping[str, Any], prepared: datetime, series: Any
) -> dict[str, Any]:
    catalogue = plan.catalogue
    dimension_codes = plan.dimension_codes
    series_dimensions = [
        _dimension(
            "FREQ",
            "Frequency",
            1,
            [
                {"id": FREQUENCIES[kind][0], "name": FREQUENCIES[kind][1]}
                for kind in plan.frequencies
            ],
            roles=["FREQ"],
        ),
        _dimension("INDICATOR", "Indicator", 2, _indicator_values(plan.indicators, catalogue)),
    ]
    for position, dim in enumerate(dimension_codes, start=3):
        info = catalogue.dimensions.get(dim)
        extra = {"x-hrcnet-code": dim} if plan.component_ids[dim] != dim else {}
        series_dimensions.append(
            _dimension(
                plan.component_ids[dim],
                info.label if info else dim,
                position,
                _code_values(plan.codes_by_dimension[dim], info.codes if info else {}),
                extra=extra,
            )
        )
    time_dimension = _dimension(
        "TIME_PERIOD",
        "Time period",
        len(dimension_codes) + 3,
        [_period_value(period) for period in plan.periods],
        roles=["TIME_PERIOD"],
    )
    units, indicators, statuses = plan.units, plan.indicators, plan.statuses

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
