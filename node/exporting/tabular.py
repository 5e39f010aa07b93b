"""CSV and plain JSON exports of results (pure: result dicts in, text or dict out).

The CSV uses our own import layout (:mod:`node.importing.own_layout`), so an export can be
edited in a spreadsheet and imported again: ``indicator,period,value,status``, then ``source``,
``method`` and ``note`` when any figure has them, then one column per disaggregation dimension
used (empty cell = total). Values are written exactly (``12.50`` stays ``12.50``).

A result dict has ``indicator``, ``period``, ``value`` (:class:`~decimal.Decimal`, ``bool``, or a
decimal string), ``disaggregation`` (dimension → code; empty or ``_T`` = total), ``status`` and
optionally ``source``, ``method``, ``note``; other keys are ignored.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from node.catalogue_view import CatalogueView
from node.disaggregation import disaggregation_key, normalize, parse_key
from node.importing.own_layout import FORMULA_STARTS
from schemas.fields import format_decimal, parse_decimal
from schemas.periods import parse_period

TEXT_COLUMNS = ("source", "method", "note")

# A stored figure as the export reads it from the database, one tuple per figure (no dict, no
# Decimal): (period, value_text, status, disaggregation_key, source, method, note); the
# indicator code comes with its batch. Positions are fixed: the writers index into them (a tuple
# or a database row).
StoredRow = Sequence[Any]
StoredBatches = Callable[[], Iterable[tuple[str, Sequence[StoredRow]]]]

# Decimal text that format_decimal(Decimal(text)) gives back unchanged: plain positional digits,
# no superfluous leading zero, no exponent, no sign on a zero, ASCII digits only (Decimal() also
# reads "1E+3", " 5", "007", "-0.0" and non-ASCII digits, which format_decimal would rewrite).
# Every value_text our writers store (Result.value's setter, node.services.results) is of this
# form; anything else goes through the plain formatting, so the bytes never depend on the claim.
_CANONICAL_NUMBER = re.compile(r"(?!-0(?:\.0+)?\Z)-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?\Z")


def export_value(value: Any) -> str | bool:
    """A result value as exact decimal text, or ``True``/``False`` for boolean indicators."""
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"  # as ResultSchema loads a boolean sent as text
    return format_decimal(parse_decimal(value))  # str or int; floats are refused on purpose


def stored_value(text: str) -> Decimal | bool:
    """A stored ``value_text`` as :attr:`node.models.Result.value` reads it."""
    if text in ("true", "false"):
        return text == "true"
    return Decimal(text)


def exported_text(value_text: str) -> str:
    """The exported text of a stored value: ``true``/``false`` or the exact decimal text.

    Equal to ``export_value(stored_value(value_text))`` written as CSV writes it (tested on
    every form), without a Decimal for the texts our writers store.
    """
    if value_text in ("true", "false") or _CANONICAL_NUMBER.match(value_text):
        return value_text
    value = export_value(stored_value(value_text))
    return ("true" if value else "false") if isinstance(value, bool) else value


def sorted_results(results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Results in a stable order: indicator, then period (chronological), then breakdown."""
    return sorted(
        results,
        key=lambda result: (
            result["indicator"],
            parse_period(result["period"]).sort_key,
            disaggregation_key(result.get("disaggregation") or {}),
        ),
    )


def dimensions_used(results: Iterable[Mapping[str, Any]], catalogue: CatalogueView) -> list[str]:
    """Dimension codes that appear in the results, in catalogue order (unknown ones last)."""
    used = {dim for result in results for dim in normalize(result.get("disaggregation") or {})}
    ordered = [code for code in catalogue.dimensions if code in used]
    return ordered + sorted(used - set(ordered))


def utc_timestamp(moment: datetime) -> str:
    """``2026-03-01T12:00:00Z``; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def protect_text(text: str) -> str:
    """A free-text cell safe to open in a spreadsheet, read back exactly by the own layout.

    Spreadsheet programs run a cell starting with ``=``, ``+``, ``-`` or ``@`` as a formula
    ("CSV injection"); a leading apostrophe makes it plain text. A text that itself starts with
    an apostrophe gets a second one, so :func:`~node.importing.own_layout.unprotect_text`
    restores every text. Surrounding spaces are dropped, as the import strips every cell.
    """
    cell = text.strip()
    return "'" + cell if cell.startswith((*FORMULA_STARTS, "'")) else cell


def to_csv(results: Iterable[Mapping[str, Any]], catalogue: CatalogueView) -> str:
    """Results as CSV text in our own import layout (see the module docstring).

    Lines end with CRLF (RFC 4180). Free-text cells that a spreadsheet would run as a formula
    are prefixed with an apostrophe; codes, periods and values never need it.
    """
    rows = sorted_results(results)
    return "".join(iter_csv(lambda: [rows], catalogue))


def iter_csv(
    batches: Callable[[], Iterable[Sequence[Mapping[str, Any]]]],
    catalogue: CatalogueView,
    *,
    columns: tuple[set[str], set[str]] | None = None,
) -> Iterator[str]:
    """:func:`to_csv`'s text in chunks, from results given in export order by ``batches()``.

    The header needs the dimensions used and the free-text columns holding any text:
    ``columns`` = (those dimension codes, those text column names) when the caller knows them
    (the database answers it with two small queries); otherwise a first pass over ``batches()``
    finds them. Rows are written one batch at a time, so memory holds one batch, never the
    whole export.
    """
    if columns is None:
        dimension_set: set[str] = set()
        present: set[str] = set()
        for batch in batches():
            for result in batch:
                dimension_set.update(normalize(result.get("disaggregation") or {}))
                for column in TEXT_COLUMNS:
                    if column not in present and result.get(column):
                        present.add(column)
    else:
        dimension_set, present = columns
    dimensions = dimensions_used([{"disaggregation": dict.fromkeys(dimension_set, "x")}], catalogue)
    texts = [column for column in TEXT_COLUMNS if column in present]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["indicator", "period", "value", "status", *texts, *dimensions])
    for batch in batches():
        for result in batch:
            value = export_value(result["value"])
            breakdown = normalize(result.get("disaggregation") or {})
            writer.writerow(
                [
                    result["indicator"],
                    result["period"],
                    ("true" if value else "false") if isinstance(value, bool) else value,
                    result.get("status") or "",
                    *(protect_text(str(result.get(column) or "")) for column in texts),
                    *(breakdown.get(dim, "") for dim in dimensions),
                ]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def iter_csv_stored(
    batches: StoredBatches,
    catalogue: CatalogueView,
    *,
    columns: tuple[set[str], set[str]],
) -> Iterator[str]:
    """:func:`iter_csv`'s text from stored rows (:data:`StoredRow`), one batch per indicator.

    ``columns`` = (dimension codes used, text columns holding any text), as for
    :func:`iter_csv`. Rows go to ``csv.writer.writerows`` as tuples: a breakdown's cells are
    computed once per disaggregation key, a value's text by :func:`exported_text`.
    """
    dimension_set, present = columns
    dimensions = dimensions_used([{"disaggregation": dict.fromkeys(dimension_set, "x")}], catalogue)
    texts = [column for column in TEXT_COLUMNS if column in present]
    text_positions = [4 + TEXT_COLUMNS.index(column) for column in texts]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["indicator", "period", "value", "status", *texts, *dimensions])

    def breakdown_cells(key: str) -> tuple[str, ...]:
        breakdown = normalize(parse_key(key))
        return tuple(breakdown.get(dim, "") for dim in dimensions)

    cells = PerKey(breakdown_cells)

    for code, rows in batches():
        # One exported text per distinct stored value of the indicator (a dict lookup per
        # figure; a new cache per indicator keeps memory bounded).
        values = PerKey(exported_text)
        if text_positions:
            # The free-text cells of a row, protected once per distinct combination of texts.
            protected = PerKey(lambda raw: tuple(protect_text(str(text or "")) for text in raw))
            writer.writerows(
                (
                    code,
                    row[0],
                    values[row[1]],
                    row[2] or "",
                    *protected[tuple([row[i] for i in text_positions])],
                    *cells[row[3]],
                )
                for row in rows
            )
        else:
            writer.writerows(
                (
                    code,
                    row[0],
                    values[row[1]],
                    row[2] or "",
                    *cells[row[3]],
                )
                for row in rows
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


class PerKey(dict[Any, Any]):
    """A cache of what one disaggregation key gives (computed on first use by ``make``)."""

    def __init__(self, make: Callable[[Any], Any]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.make(key)
        return value


def to_json(
    results: Iterable[Mapping[str, Any]],
    catalogue: CatalogueView,
    node: Mapping[str, Any],
    prepared: datetime,
) -> dict[str, Any]:
    """Results as a JSON-able document: node, time of preparation and ``items``.

    Items use the field names of ``POST /api/v1/results`` (values as decimal strings or
    booleans), plus the indicator's ``unit`` code.
    """
    items = [_json_item(result, catalogue) for result in sorted_results(results)]
    return {
        "city_id": node.get("city_id"),
        "name": node.get("name"),
        "prepared": utc_timestamp(prepared),
        "catalogue_version": catalogue.version,
        "count": len(items),
        "items": items,
    }


def _json_item(result: Mapping[str, Any], catalogue: CatalogueView) -> dict[str, Any]:
    info = catalogue.indicators.get(result["indicator"])
    item: dict[str, Any] = {
        "indicator": result["indicator"],
        "period": result["period"],
        "value": export_value(result["value"]),
        "disaggregation": normalize(result.get("disaggregation") or {}),
        "status": result.get("status"),
        "unit": info.unit_code if info else None,
    }
    for column in TEXT_COLUMNS:
        if result.get(column):
            item[column] = result[column]
    return item


def json_value(value_text: str) -> str:
    """A stored value as JSON text, as ``json.dumps(export_value(stored_value(text)))``."""
    if value_text in ("true", "false"):
        return value_text  # a boolean indicator's value is a JSON true/false
    if _CANONICAL_NUMBER.match(value_text):
        return '"' + value_text + '"'  # digits, "-" and "." only: nothing to escape
    return json.dumps(export_value(stored_value(value_text)), ensure_ascii=False)


def iter_json_stored(
    batches: StoredBatches,
    count: int,
    catalogue: CatalogueView,
    node: Mapping[str, Any],
    prepared: datetime,
) -> Iterator[str]:
    """:func:`to_json`'s text streamed from stored rows (:data:`StoredRow`), per indicator.

    Each item is written as the text ``json.dumps`` gives for :func:`_json_item`'s dict (same
    keys, order and separators), from pieces computed once per indicator, period, status and
    disaggregation key; only the value (and any free text) is written per figure.
    """
    marker = f"hrcnet-items-{uuid.uuid4().hex}"
    head = {
        "city_id": node.get("city_id"),
        "name": node.get("name"),
        "prepared": utc_timestamp(prepared),
        "catalogue_version": catalogue.version,
        "count": count,
        "items": marker,
    }
    before, after = json.dumps(head, ensure_ascii=False).split(json.dumps(marker), 1)
    yield before + "["

    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    periods = PerKey(lambda period: ', "period": ' + dumps(period) + ', "value": ')
    breakdowns = PerKey(
        lambda key: ', "disaggregation": ' + dumps(normalize(parse_key(key))) + ', "status": '
    )
    statuses = PerKey(dumps)
    written = 0
    for code, rows in batches():
        if not rows:
            continue
        values = PerKey(json_value)  # per indicator, as in iter_csv_stored
        info = catalogue.indicators.get(code)
        start = '{"indicator": ' + dumps(code)
        end = ', "unit": ' + dumps(info.unit_code if info else None)
        parts = []
        for period, value_text, status, key, source, method, note in rows:
            extra = (
                "".join(
                    f', "{column}": {dumps(text)}'
                    for column, text in zip(TEXT_COLUMNS, (source, method, note), strict=True)
                    if text
                )
                if source or method or note
                else ""
            )
            parts.append(
                start
                + periods[period]
                + values[value_text]
                + breakdowns[key]
                + statuses[status]
                + end
                + extra
                + "}"
            )
        yield (", " if written else "") + ", ".join(parts)
        written += len(rows)
    if written != count:
        raise ValueError(f"{written} results were written but {count} announced")
    yield "]" + after
