"""Our own import layout, and the cell checks every layout shares.

The layout (also what :func:`node.exporting.tabular.to_csv` writes, so an export can be imported
again)::

    indicator,period,value,status,source,method,note,SEX,AGE_GROUP
    HRC-HOU-04,2025,12.5,validated,,,,F,

``indicator``, ``period`` and ``value`` are required; ``status``, ``source``, ``method``, ``note``
and one column per disaggregation dimension code of the catalogue are optional, in any order.
An empty dimension cell (or ``_T``) means "total" for that dimension. Column names are matched
without regard to case.

The shared helpers (:func:`match_code`, :func:`parse_value`, :class:`OutcomeCollector`, ...) are
public because the Open SDG layout uses them too.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from node.catalogue_view import CatalogueView, DimensionInfo, IndicatorInfo
from node.disaggregation import TOTAL_CODE, disaggregation_key
from node.importing.table import ParsedRow, ParseOutcome, RowError, Table
from node.refusals import Items, Problem, period_problem
from schemas.fields import parse_decimal
from schemas.periods import PeriodError, parse_period
from schemas.results import RESULT_STATUSES

REQUIRED_COLUMNS = ("indicator", "period", "value")
OPTIONAL_COLUMNS = ("status", "source", "method", "note")
TEXT_LIMITS = {"source": 500, "method": 500, "note": 10_000}  # as in schemas.results.ResultSchema
BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
# Characters that make a spreadsheet treat a cell as a formula; our CSV export protects text
# cells starting with them by a leading apostrophe (see node.exporting.tabular), removed here.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Words, and the symbols that change what a category means ("<18" is not "18+"), as words.
_WORDS_RE = re.compile(r"[^\W_]+|[<>≤≥+%]")


# --- shared cell checks ------------------------------------------------------------------------


def normalize_label(text: str) -> str:
    """Case- and punctuation-blind form of a label: ``"Black/ African American"`` →
    ``"black african american"``, ``"AGE_GROUP"`` → ``"age group"``, ``"65+"`` → ``"65 +"``."""
    return " ".join(_WORDS_RE.findall(text.casefold()))


def find_indicator(catalogue: CatalogueView, text: str) -> IndicatorInfo | None:
    """The indicator whose code is ``text`` (exact, else without regard to case)."""
    if text in catalogue.indicators:
        return catalogue.indicators[text]
    folded = text.casefold()
    for code, info in catalogue.indicators.items():
        if code.casefold() == folded:
            return info
    return None


def match_code(dimension: DimensionInfo, text: str) -> str | None:
    """The code of ``dimension`` meant by a cell: the code itself (any case) or its label.

    Returns :data:`~node.disaggregation.TOTAL_CODE` for ``_T`` or "Total", ``None`` when nothing
    matches. Labels are compared without case and punctuation, and a label's explanation in
    parentheses may be left out ("Other / non-binary" matches "Other / non-binary (where ...)").
    """
    if text in dimension.codes:
        return text
    folded = text.casefold()
    if folded == TOTAL_CODE.casefold():
        return TOTAL_CODE
    for code in dimension.codes:
        if code.casefold() == folded:
            return code
    wanted = normalize_label(text)
    if not wanted:
        return None
    for code, label in dimension.codes.items():
        if wanted in (normalize_label(label), normalize_label(label.split(" (")[0])):
            return code
    if wanted == "total":
        return TOTAL_CODE
    return None


def describe_codes(dimension: DimensionInfo, limit: int = 15) -> Items:
    """The codes of ``dimension`` an error message quotes: ``F (Female), M (Male), and 3 more``
    in English (``str``), the reader's way on a page (:class:`~node.refusals.Items`); empty
    when the dimension has no codes yet (the caller then picks its ``…_none_yet`` message)."""
    return Items.of(
        (f"{code} ({label})" for code, label in dimension.codes.items() if code != TOTAL_CODE),
        limit,
    )


def parse_value(indicator: IndicatorInfo, text: str) -> str | bool:
    """Check a value cell against the indicator's value type; raise ``ValueError`` if it fails.

    Numbers stay text (exact: ``"12.50"`` keeps its two decimals); boolean indicators accept
    true/false, yes/no and 1/0 in any case.
    """
    if not text:
        raise ValueError(
            Problem("The value is empty. Enter the figure, or leave the row out.",
                    variant="import_empty_value")
        )  # fmt: skip
    if indicator.value_type == "boolean":
        word = text.casefold()
        if word in BOOLEAN_WORDS:
            return BOOLEAN_WORDS[word]
        raise ValueError(
            Problem(
                f"'{text[:40]}' is not a yes/no answer. Indicator {indicator.code} takes "
                "true or false (yes/no and 1/0 are accepted too).",
                params={"text": text[:40], "indicator": indicator.code},
                variant="import_not_yes_no",
            )
        )
    try:
        parse_decimal(text)
    except ValueError as exc:
        reason = str(exc)
        if reason.startswith("at most"):
            raise ValueError(
                Problem(
                    f"'{text[:40]}' has too many digits ({reason}).",
                    params={"text": text[:40]},
                    variant="import_too_many_digits",
                )
            ) from exc
        hint, variant = "", "import_not_a_number"
        if re.fullmatch(r"[+-]?[0-9]+,[0-9]+", text):
            hint = " Use a point, not a comma, as decimal separator (12.5, not 12,5)."
            variant = "import_not_a_number_comma"
        elif text.endswith("%"):
            hint = " Leave out the % sign: the unit comes from the indicator."
            variant = "import_not_a_number_percent"
        raise ValueError(
            Problem(
                f"'{text[:40]}' is not a number. Write digits with a point for "
                f"decimals, e.g. 12.5, without thousands separators or units.{hint}",
                params={"text": text[:40]},
                variant=variant,
            )
        ) from exc
    return text


def value_problem(exc: ValueError) -> str:
    """The message of a value cell refused by :func:`parse_value`: its :class:`Problem` (the
    English text, and what a page needs to word it in the reader's language)."""
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, Problem) else str(exc)


def describe_breakdown(disaggregation: dict[str, str]) -> Items:
    """``SEX F, AGE_GROUP Y_LT18`` for messages; empty for the total (whose messages say
    "total" in their own words)."""
    return Items.of(f"{dim} {code}" for dim, code in sorted(disaggregation.items()))


def _same_value(first: str | bool, second: str | bool) -> bool:
    if isinstance(first, bool) or isinstance(second, bool):
        return first is second
    return Decimal(first) == Decimal(second)  # "18" and "18.0" are the same figure


class OutcomeCollector:
    """Gathers figures, errors and skipped rows of one parse, and removes repeated figures.

    The same figure (indicator, period, breakdown) given twice with the same value is kept once
    and the repetition reported as skipped (Open SDG files repeat the total under every unit);
    given twice with different values it is an error, since we cannot know which one is right.
    """

    def __init__(self, table: Table) -> None:
        self.rows: list[ParsedRow] = []
        self.errors: list[RowError] = list(table.errors)
        self.skipped: list[tuple[int, str]] = []
        self._seen: dict[tuple[str, str, str], ParsedRow] = {}

    @property
    def error_count(self) -> int:
        """How many errors were recorded so far (the table's own included)."""
        return len(self.errors)

    def error(self, row: int, column: str | None, message: str) -> None:
        """Record an error of ``row`` (``column`` = heading as written in the file)."""
        self.errors.append(RowError(row, column, message))

    def skip(self, row: int, reason: str) -> None:
        """Record a row left out on purpose (no data, or excluded by the import profile)."""
        self.skipped.append((row, reason))

    def add(
        self,
        row: int,
        item: dict[str, Any],
        key: str | None = None,
        *,
        parsed: Decimal | None = None,
    ) -> None:
        """Add a figure unless the file already gave it (see the class docstring).

        ``key``: the breakdown's :func:`~node.disaggregation.disaggregation_key`, when the caller
        has it already. ``parsed``: the value cell's number (``parse_decimal`` of
        ``item["value"]``) when the layout parsed it; a streamed import uses it, this collector
        keeps the text.
        """
        if key is None:
            key = disaggregation_key(item["disaggregation"])
        identity = (item["indicator"], item["period"], key)
        first = self._seen.get(identity)
        if first is None:
            parsed = ParsedRow(row, item)
            self._seen[identity] = parsed
            self.rows.append(parsed)
            return
        self.repeated(row, item, first.row, first.item["value"])

    def repeated(self, row: int, item: dict[str, Any], first_row: int, first_value: Any) -> None:
        """``row`` gives again the figure row ``first_row`` gave: skipped if the same value,
        an error if not."""
        breakdown = describe_breakdown(item["disaggregation"])
        what = f"indicator {item['indicator']}, period {item['period']}, {breakdown or 'total'}"
        if _same_value(first_value, item["value"]):
            self.skip(row, f"Same figure as row {first_row} ({what}); imported once.")
        else:
            self.error(
                row,
                None,
                Problem(
                    f"Row {first_row} already gives {_show(first_value)} for {what}; "
                    f"this row gives {_show(item['value'])}. Keep only the correct one.",
                    # The values as they are (a yes/no is a bool): a page writes them its way.
                    params={
                        "first_row": first_row,
                        "previous": first_value,
                        "value": item["value"],
                        "indicator": item["indicator"],
                        "period": item["period"],
                        "breakdown": breakdown,
                    },
                    variant="import_repeated_figure" if breakdown else "import_repeated_total",
                ),
            )

    def outcome(self) -> ParseOutcome:
        """The collected outcome, errors and skipped rows in file order."""
        errors = sorted(self.errors, key=lambda error: error.row)  # stable: keeps cell order
        skipped = sorted(self.skipped, key=lambda entry: entry[0])
        return ParseOutcome(rows=list(self.rows), errors=errors, skipped=skipped)


def _show(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def unprotect_text(text: str) -> str:
    """Undo the apostrophe our CSV export puts before text a spreadsheet would run as a formula.

    The export also doubles a leading apostrophe, so the pair of functions is exact.
    """
    if text.startswith("'") and text[1:].startswith((*FORMULA_STARTS, "'")):
        return text[1:]
    return text


# --- the layout --------------------------------------------------------------------------------


def parse_own_layout(
    table: Table, catalogue: CatalogueView, collector: OutcomeCollector | None = None
) -> ParseOutcome:
    """Parse a table in our own layout (see the module docstring) against the catalogue.

    Every row is checked and every problem reported (row, column, what was expected); nothing
    stops at the first error. Unknown columns are one error each, on the header row.
    ``collector``: where figures and errors go (a streamed import passes its own; by default
    they are collected into the returned outcome).
    """
    collector = collector if collector is not None else OutcomeCollector(table)
    columns = _header_roles(table, catalogue, collector)
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    for name in missing:
        collector.error(
            table.header_row,
            name,
            Problem(
                f"The required column '{name}' is missing. The first row must name the "
                "columns indicator, period and value, then any of status, source, "
                "method, note and dimension codes such as SEX.",
                params={"column": name},
                variant="import_missing_column",
            ),
        )
    if missing:
        return collector.outcome()
    parse_row = _RowParser(table.header, columns, catalogue, collector).parse
    for number, cells in table.rows:
        parse_row(number, cells)
    return collector.outcome()


def _header_roles(
    table: Table, catalogue: CatalogueView, collector: OutcomeCollector
) -> dict[str, int]:
    """Map each role (``indicator``, ..., or a dimension code) to its column index."""
    dimensions_by_case = {code.casefold(): code for code in catalogue.dimensions}
    columns: dict[str, int] = {}
    for index, name in enumerate(table.header):
        folded = name.casefold()
        if folded in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            role = folded
        elif name in catalogue.dimensions:
            role = name
        elif folded in dimensions_by_case:
            role = dimensions_by_case[folded]
        else:
            known = Items.of(catalogue.dimensions)
            collector.error(
                table.header_row,
                name,
                Problem(
                    f"'{name[:80]}' is not a column of this layout. Allowed columns: "
                    "indicator, period, value, status, source, method, note, and the "
                    f"dimension codes {known or 'none'}.",
                    params={"column": name[:80], "known": known},
                    variant="import_unknown_column"
                    if known
                    else "import_unknown_column_no_dimensions",
                ),
            )
            continue
        if role in columns:
            collector.error(
                table.header_row,
                name,
                Problem(
                    f"Column '{name[:80]}' repeats column "
                    f"'{table.header[columns[role]]}'. Keep one of them.",
                    params={"column": name[:80], "first": table.header[columns[role]]},
                    variant="import_repeated_column",
                ),
            )
            continue
        columns[role] = index
    return columns


class _RowParser:
    """Checks the rows of one file: the rules of the layout, with what repeats remembered.

    A file of a million rows holds a few hundred distinct indicators, periods and dimension
    cells: each is looked up once (the answer, or the message of its error) instead of once
    per row. Only the value and the texts are checked row by row.
    """

    def __init__(
        self,
        header: list[str],
        columns: dict[str, int],
        catalogue: CatalogueView,
        collector: OutcomeCollector,
    ) -> None:
        self.header = header
        self.catalogue = catalogue
        self.collector = collector
        self.indicator_at = columns["indicator"]
        self.period_at = columns["period"]
        self.value_at = columns["value"]
        self.status_at = columns.get("status")
        self.texts = [
            (role, limit, columns[role]) for role, limit in TEXT_LIMITS.items() if role in columns
        ]
        self.dimensions = [
            (dim_code, dimension, columns[dim_code])
            for dim_code, dimension in catalogue.dimensions.items()
            if dim_code in columns
        ]
        self._indicators: dict[str, IndicatorInfo | None] = {}
        self._periods: dict[str, tuple[str, str | None]] = {}
        self._codes: dict[tuple[str, str], str | None] = {}
        self._keys: dict[tuple[str, ...], tuple[dict[str, str], str]] = {}
        self._known_codes: dict[str, Items] = {}  # per dimension: what its refusals quote

    def _indicator(self, text: str) -> IndicatorInfo | None:
        try:
            return self._indicators[text]
        except KeyError:
            found = self._indicators[text] = find_indicator(self.catalogue, text)
            return found

    def _period(self, text: str) -> tuple[str, str | None]:
        """(canonical period, None), or ("", the error message)."""
        found = self._periods.get(text)
        if found is None:
            try:
                found = (str(parse_period(text.upper())), None)  # "2025-q3" is clear enough
            except PeriodError as exc:
                message: str = (
                    Problem(
                        "The period is empty. Use 2025, 2025-H1, 2025-Q3 or 2025-07.",
                        variant="import_empty_period",
                    )
                    if not text
                    else period_problem(exc)
                )
                found = ("", message)
            self._periods[text] = found
        return found

    def _code(self, dim_code: str, dimension: DimensionInfo, text: str) -> str | None:
        try:
            return self._codes[(dim_code, text)]
        except KeyError:
            found = self._codes[(dim_code, text)] = match_code(dimension, text)
            return found

    def parse(self, number: int, cells: list[str]) -> None:
        """Check one data row; add its figure to the collector, or its errors."""
        collector = self.collector
        header = self.header
        errors_before = collector.error_count

        info: IndicatorInfo | None = None
        code_text = cells[self.indicator_at]
        if not code_text:
            collector.error(
                number,
                header[self.indicator_at],
                Problem(
                    "The indicator code is empty. Enter a code of the catalogue, e.g. HRC-HOU-04.",
                    variant="import_empty_indicator",
                ),
            )
        else:
            info = self._indicator(code_text)
            if info is None:
                collector.error(
                    number,
                    header[self.indicator_at],
                    Problem(
                        f"'{code_text[:60]}' is not an indicator of the catalogue. Check "
                        "the code; a local indicator must be added to the catalogue first.",
                        params={"indicator": code_text[:60]},
                        variant="import_unknown_indicator",
                    ),
                )

        period, problem = self._period(cells[self.period_at])
        if problem is not None:
            collector.error(number, header[self.period_at], problem)

        value: str | bool = ""
        # The number a value cell holds, parsed here once: a streamed import checks it with
        # this Decimal instead of parsing the text a second time (the same parse_decimal).
        parsed: Decimal | None = None
        value_text = cells[self.value_at]
        if info is not None:
            try:
                if value_text and info.value_type != "boolean":
                    # parse_value's rule for a number (it parses with parse_decimal and keeps
                    # the text): on failure parse_value below words the error.
                    parsed = parse_decimal(value_text)
                    value = value_text
                else:
                    value = parse_value(info, value_text)
            except ValueError:
                try:
                    parse_value(info, value_text)
                except ValueError as exc:
                    collector.error(number, header[self.value_at], value_problem(exc))
        elif not value_text:
            collector.error(
                number,
                header[self.value_at],
                Problem(
                    "The value is empty. Enter the figure, or leave the row out.",
                    variant="import_empty_value",
                ),
            )

        status = cells[self.status_at] if self.status_at is not None else ""
        if status and status.casefold() not in RESULT_STATUSES:
            assert self.status_at is not None
            collector.error(
                number,
                header[self.status_at],
                Problem(
                    f"'{status[:40]}' is not a status. Use one of: "
                    f"{', '.join(RESULT_STATUSES)} (or leave it empty).",
                    params={"given": status[:40], "allowed": Items.of(RESULT_STATUSES)},
                    variant="import_unknown_status",
                ),
            )

        texts: dict[str, str] = {}
        for role, limit, at in self.texts:
            text = unprotect_text(cells[at])
            if len(text) > limit:
                collector.error(
                    number,
                    header[at],
                    Problem(
                        f"The text is {len(text)} characters long; at most {limit} are allowed.",
                        params={"length": len(text), "limit": limit},
                        variant="import_text_too_long",
                    ),
                )
            elif text:
                texts[role] = text

        chosen: list[str] = []
        for dim_code, dimension, at in self.dimensions:
            text = cells[at]
            if not text:
                continue
            code = self._code(dim_code, dimension, text)
            if code is None:
                known_codes = self._known_codes.get(dim_code)
                if known_codes is None:
                    known_codes = self._known_codes[dim_code] = describe_codes(dimension)
                # A Problem: the same English text, and what a page needs to word it.
                collector.error(
                    number,
                    header[at],
                    Problem(
                        f"'{text[:60]}' is not a code of {dim_code} ({dimension.label}). "
                        f"Known codes: {known_codes or 'none yet'}.",
                        params={
                            "code": text[:60],
                            "dimension": dim_code,
                            "label": dimension.label,
                            "known": known_codes,
                        },
                        variant="import_unknown_code"
                        if known_codes
                        else "import_unknown_code_none_yet",
                    ),
                )
            elif code == TOTAL_CODE:
                continue
            elif info is not None and dim_code not in info.dimensions:
                allowed = Items.of(info.dimensions)
                collector.error(
                    number,
                    header[at],
                    Problem(
                        f"Indicator {info.code} has no breakdown by {dim_code}; leave this "
                        f"cell empty. Breakdowns of {info.code}: "
                        f"{allowed or 'none (totals only)'}.",
                        params={"indicator": info.code, "dimension": dim_code, "allowed": allowed},
                        variant="import_no_such_breakdown"
                        if info.dimensions
                        else "import_no_such_breakdown_totals_only",
                    ),
                )
            else:
                chosen.append(dim_code)
                chosen.append(code)

        if collector.error_count > errors_before or info is None:
            return
        combination = tuple(chosen)
        known = self._keys.get(combination)
        if known is None:
            pairs = dict(zip(chosen[::2], chosen[1::2], strict=True))
            known = self._keys[combination] = (pairs, disaggregation_key(pairs))
        disaggregation, key = known
        item: dict[str, Any] = {
            "indicator": info.code,
            "period": period,
            "value": value,
            # a copy: the figure is the caller's to keep or change
            "disaggregation": dict(disaggregation),
        }
        if status:
            item["status"] = status.casefold()
        item.update(texts)
        collector.add(number, item, key, parsed=parsed)
