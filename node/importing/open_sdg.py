"""The Open SDG "tidy" layout: ``Year``, disaggregation columns, optional ``Units``, ``Value``.

This is the format behind the Open SDG reporting platforms many cities use for their Voluntary
Local Reviews. An empty disaggregation cell means "total" for that column; an empty ``Value``
means "no data" (the row is skipped, not an error). One file may mix several ``Units``, each
repeating the same total: equal repetitions are imported once, different ones are an error.
Totals are never checked against the sum of their categories (they often differ, e.g. when sex
was not recorded for some victims).

How columns, values and units map to the catalogue is said by an import profile
(:mod:`node.importing.profile`). Without one, simple files still work: columns are matched to
dimensions by code or label (``Gender`` or ``Sex`` → SEX) and values to codes by code or label
(``Male`` → M), without regard to case.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from node.catalogue_view import CatalogueView
from node.disaggregation import TOTAL_CODE
from node.importing.own_layout import (
    OutcomeCollector,
    describe_codes,
    match_code,
    normalize_label,
    parse_value,
    value_problem,
)
from node.importing.profile import check_profile, load_profile
from node.importing.table import ParseOutcome, Table
from node.refusals import Items, Problem, period_problem
from schemas.periods import PeriodError, parse_period

# Common column names whose wording differs from the dimension's label.
COLUMN_SYNONYMS = {"gender": "SEX", "sex": "SEX", "age": "AGE_GROUP", "age group": "AGE_GROUP"}

_YEAR_RE = re.compile(r"[0-9]{4}")
_T = TypeVar("_T")


def parse_open_sdg(
    table: Table,
    profile: dict[str, Any] | None,
    catalogue: CatalogueView,
    *,
    indicator: str | None = None,
    collector: OutcomeCollector | None = None,
) -> ParseOutcome:
    """Parse an Open SDG tidy table with an import profile (or none) against the catalogue.

    ``indicator`` is the indicator of rows the profile does not assign by their Units (it takes
    precedence over the profile's own ``indicator``). Raises
    :class:`~node.importing.profile.ProfileError` when the profile is malformed or names
    indicators, dimensions or codes the catalogue does not have; problems of the file are
    reported in the outcome, row by row. ``collector``: where figures and errors go (a
    streamed import passes its own; by default they are collected into the outcome).
    """
    spec = load_profile(profile if profile is not None else {})
    default_indicator = indicator or spec["indicator"]
    if default_indicator is not None or spec["units"]:
        check_profile(spec, catalogue, default_indicator)
    collector = collector if collector is not None else OutcomeCollector(table)
    header_row = table.header_row

    roles = {normalize_label(name): index for index, name in enumerate(table.header)}
    year_index, value_index = roles.get("year"), roles.get("value")
    units_index = roles.get("units")
    for needed, index in (("Year", year_index), ("Value", value_index)):
        if index is None:
            collector.error(
                header_row,
                needed,
                Problem(
                    f"The file has no '{needed}' column. An Open SDG file has the columns "
                    "Year, any disaggregation columns, optionally Units, and Value.",
                    params={"column": needed},
                    variant="open_sdg_missing_column",
                ),
            )
    no_indicator = default_indicator is None and not spec["units"]
    if no_indicator:
        collector.error(
            header_row,
            None,
            Problem(
                "No indicator is given: choose the indicator this file reports, or use an "
                "import profile that maps the file's Units to indicators.",
                variant="open_sdg_no_indicator",
            ),
        )
    if year_index is None or value_index is None or no_indicator:
        return collector.outcome()

    fixed = {year_index, value_index, units_index}
    dimension_columns = [index for index in range(len(table.header)) if index not in fixed]
    base_specs: dict[int, dict[str, Any] | None] = {}
    for index in dimension_columns:
        name = table.header[index]
        found, column_spec = _lookup(spec["columns"], name)
        if found:
            base_specs[index] = column_spec
            continue
        dimension = _auto_dimension(name, catalogue)
        if dimension is not None:
            base_specs[index] = {"dimension": dimension, "codes": {}}
        elif any(_lookup(columns, name)[0] for columns in spec["columns_by_units"].values()):
            base_specs[index] = None  # only some units use this column; elsewhere it stays empty
        else:
            known = Items.of(catalogue.dimensions)
            collector.error(
                header_row,
                name,
                Problem(
                    f"The column '{name[:80]}' does not match a disaggregation dimension "
                    f"(known: {known}). Describe it in the import profile's 'columns'.",
                    params={"column": name[:80], "known": known},
                    variant="open_sdg_unknown_column"
                    if known
                    else "open_sdg_unknown_column_no_dimensions",
                ),
            )
    if collector.error_count > len(table.errors):
        return collector.outcome()

    context = _Context(
        table,
        spec,
        catalogue,
        collector,
        default_indicator,
        units_index,
        year_index,
        value_index,
        dimension_columns,
        base_specs,
    )
    for number, cells in table.rows:
        context.parse_row(number, cells)
    return collector.outcome()


def _lookup(mapping: dict[str, _T], key: str) -> tuple[bool, _T | None]:
    """Find ``key`` in a profile mapping: exact, else ignoring case and punctuation."""
    if key in mapping:
        return True, mapping[key]
    wanted = normalize_label(key)
    for candidate, value in mapping.items():
        if normalize_label(candidate) == wanted:
            return True, value
    return False, None


def _auto_dimension(column: str, catalogue: CatalogueView) -> str | None:
    """The dimension a column name means, by code, label or a common synonym."""
    wanted = normalize_label(column)
    for code, dimension in catalogue.dimensions.items():
        if wanted in (
            normalize_label(code),
            normalize_label(dimension.label),
            normalize_label(dimension.label.split(" (")[0]),
        ):
            return code
    synonym = COLUMN_SYNONYMS.get(wanted)
    return synonym if synonym in catalogue.dimensions else None


class _Context:
    """Everything one parse needs while going through the rows."""

    def __init__(
        self,
        table: Table,
        spec: dict[str, Any],
        catalogue: CatalogueView,
        collector: OutcomeCollector,
        default_indicator: str | None,
        units_index: int | None,
        year_index: int,
        value_index: int,
        dimension_columns: list[int],
        base_specs: dict[int, dict[str, Any] | None],
    ) -> None:
        self.header = table.header
        self.spec = spec
        self.catalogue = catalogue
        self.collector = collector
        self.default_indicator = default_indicator
        self.units_index = units_index
        self.year_index = year_index
        self.value_index = value_index
        self.dimension_columns = dimension_columns
        self.base_specs = base_specs
        self.units_column = table.header[units_index] if units_index is not None else "Units"
        self.first_units: str | None = None

    def parse_row(self, number: int, cells: list[str]) -> None:
        collector = self.collector
        value_text = cells[self.value_index]
        if not value_text:
            collector.skip(
                number, "No value (the Value cell is empty): no data for this year and breakdown."
            )
            return
        units = cells[self.units_index] if self.units_index is not None else ""
        target = self._target(number, units)
        if target is None:
            return
        indicator_code, totals = target
        info = self.catalogue.indicators[indicator_code]
        errors_before = collector.error_count

        period = self._period(number, cells[self.year_index])
        value: str | bool = ""
        try:
            value = parse_value(info, value_text)
        except ValueError as exc:
            collector.error(number, self.header[self.value_index], value_problem(exc))

        disaggregation = self._disaggregation(number, cells, units, indicator_code)
        if collector.error_count > errors_before or period is None or disaggregation is None:
            return
        if totals == "skip" and not disaggregation:
            collector.skip(
                number,
                f"Total under Units '{units}' not imported: the import profile "
                f"takes the total of {indicator_code} from another unit.",
            )
            return
        item: dict[str, Any] = {
            "indicator": indicator_code,
            "period": period,
            "value": value,
            "disaggregation": disaggregation,
            "status": self.spec["status"],
        }
        if self.spec["source"]:
            item["source"] = self.spec["source"]
        collector.add(number, item)

    def _target(self, number: int, units: str) -> tuple[str, str] | None:
        """(indicator code, totals choice) of a row, or None when skipped or wrong."""
        mapping = self.spec["units"]
        if mapping:
            found, target = _lookup(mapping, units)
            if found and target is None:
                self.collector.skip(
                    number, f"The import profile leaves out rows with Units '{units}'."
                )
                return None
            if found and target is not None:
                return target["indicator"], target["totals"]
            if not units and self.default_indicator:
                return self.default_indicator, "import"
            # The first ten, as the API has always quoted them (no count of the rest).
            known = Items(tuple(f"'{name}'" for name in list(mapping)[:10]))
            self.collector.error(
                number,
                self.units_column,
                Problem(
                    f"Units '{units[:80]}' is not in the import profile, so its "
                    f"indicator is unknown. Units the profile knows: {known}.",
                    params={"units": units[:80], "known": known},
                    variant="open_sdg_unknown_units",
                ),
            )
            return None
        assert self.default_indicator is not None  # checked before the rows are read
        if units:
            if self.first_units is None:
                self.first_units = units
            elif normalize_label(units) != normalize_label(self.first_units):
                self.collector.error(
                    number,
                    self.units_column,
                    Problem(
                        f"This file mixes several units ('{self.first_units[:80]}' "
                        f"and '{units[:80]}'). Use an import profile that says which "
                        "indicator each unit belongs to.",
                        params={"first": self.first_units[:80], "units": units[:80]},
                        variant="open_sdg_mixed_units",
                    ),
                )
                return None
        return self.default_indicator, "import"

    def _period(self, number: int, text: str) -> str | None:
        column = self.header[self.year_index]
        if self.spec["period_format"] == "year" and not _YEAR_RE.fullmatch(text):
            self.collector.error(
                number,
                column,
                Problem(
                    f"'{text[:40]}' is not a year. Write the year with four digits, e.g. 2019.",
                    params={"text": text[:40]},
                    variant="open_sdg_not_a_year",
                ),
            )
            return None
        try:
            return str(parse_period(text.upper()))
        except PeriodError as exc:
            self.collector.error(number, column, period_problem(exc))
            return None

    def _disaggregation(
        self, number: int, cells: list[str], units: str, indicator_code: str
    ) -> dict[str, str] | None:
        info = self.catalogue.indicators[indicator_code]
        overrides: dict[str, Any] = {}
        if units:
            overrides = _lookup(self.spec["columns_by_units"], units)[1] or {}
        disaggregation: dict[str, str] = {}
        ok = True
        for index in self.dimension_columns:
            text = cells[index]
            if not text:
                continue
            name = self.header[index]
            found, column_spec = _lookup(overrides, name)
            if not found:
                column_spec = self.base_specs[index]
            if column_spec is None:
                for_units = f" for Units '{units}'" if units else ""
                self.collector.error(
                    number,
                    name,
                    Problem(
                        f"The import profile says column '{name}' is not used"
                        f"{for_units}, but this row has '{text[:60]}' in it. Leave "
                        "the cell empty or describe the column in the profile.",
                        params={"column": name[:80], "units": units[:80], "text": text[:60]},
                        variant="open_sdg_column_not_used_for_units"
                        if units
                        else "open_sdg_column_not_used",
                    ),
                )
                ok = False
                continue
            dimension = self.catalogue.dimensions[column_spec["dimension"]]
            found, code = _lookup(column_spec["codes"], text)
            if not found:
                code = match_code(dimension, text)
            if code is None:
                mapping = Items(
                    tuple(
                        f"'{source}' → {target}" for source, target in column_spec["codes"].items()
                    )
                )
                known_codes = describe_codes(dimension)
                # A Problem: the same English text, and what a page needs to word it.
                self.collector.error(
                    number,
                    name,
                    Problem(
                        f"'{text[:60]}' is not a known value of {dimension.code} "
                        f"({dimension.label}). "
                        + (f"The profile maps: {mapping}. " if mapping else "")
                        + f"Codes of {dimension.code}: {known_codes or 'none yet'}.",
                        params={
                            "code": text[:60],
                            "dimension": dimension.code,
                            "label": dimension.label,
                            "mapping": mapping,
                            "known": known_codes,
                        },
                        variant=(
                            "import_unknown_value_mapped"
                            if known_codes
                            else "import_unknown_value_mapped_none_yet"
                        )
                        if mapping
                        else (
                            "import_unknown_value"
                            if known_codes
                            else "import_unknown_value_none_yet"
                        ),
                    ),
                )
                ok = False
            elif code == TOTAL_CODE:
                continue
            elif dimension.code not in info.dimensions:
                allowed = Items.of(info.dimensions)
                self.collector.error(
                    number,
                    name,
                    Problem(
                        f"Indicator {info.code} has no breakdown by {dimension.code}; "
                        f"its breakdowns are: {allowed or 'none (totals only)'}.",
                        params={
                            "indicator": info.code,
                            "dimension": dimension.code,
                            "allowed": allowed,
                        },
                        variant="import_no_such_breakdown"
                        if info.dimensions
                        else "import_no_such_breakdown_totals_only",
                    ),
                )
                ok = False
            elif dimension.code in disaggregation:
                self.collector.error(
                    number,
                    name,
                    Problem(
                        f"Two columns of this row give a {dimension.code} value; "
                        "a figure can have only one.",
                        params={"dimension": dimension.code},
                        variant="import_two_values",
                    ),
                )
                ok = False
            else:
                disaggregation[dimension.code] = code
        return disaggregation if ok else None
