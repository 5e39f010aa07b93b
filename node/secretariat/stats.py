"""Regional benchmarks: the pure statistics behind them (no database, no Flask).

The secretariat recomputes every benchmark group from the latest revision of each city's
summary: 1,000 cities × 100 core indicators × 10 periods is a million figures, and the full
recompute must stay well under two seconds. So this module works on plain Python floats, sorts
each group once and reads every statistic off the sorted values by index arithmetic; Decimal
only appears when a statistic is rendered for the wire (:func:`decimal_text`).

Definitions (they are part of what members see, so they are fixed here and tested):

* **Quartiles** follow ``statistics.quantiles(values, n=4, method="inclusive")``: linear
  interpolation between order statistics, where the minimum is the 0th and the maximum the
  100th percentile (the "type 7" method of R and the default of NumPy). ``q2`` equals the
  median, so the box of a box plot always contains its median line. A single value is its own
  q1, median and q3.
* **Mean** is ``statistics.fmean`` (``math.fsum(values) / n``) for values of mixed signs; for
  values of one sign the plain sum is used, within ~1e-13 relative of it (see ``_mean``).
* **Suppression**: a group with fewer than ``min_cities`` cities gets no statistics at all
  (``stats is None``); its values and sources stay in memory for the recompute, but are never
  published (see :class:`BenchmarkGroup`).
* **Rank** is competition ranking, 1 = best: ties share the best rank (1, 2, 2, 4).
* **Percentile** is the share of the group's cities that the city does at least as well as,
  itself included, in percent: ``100 * #{v : v <= value} / n`` when higher is better,
  ``100 * #{v : v >= value} / n`` when lower is better. The best city is at 100; a city
  tied with everyone is at 100; the worst of n distinct values is at ``100 / n``.
* **Quartile** (1 = best quarter … 4 = worst) compares the value with the quartile cut points;
  a value exactly on a cut point belongs to the better quarter, so quartile 1 holds exactly
  when ``distance_to_best_quartile`` is 0.
* Indicators with direction ``context`` have no better side: no rank, percentile, quartile,
  distance or trend.
"""

from __future__ import annotations

import gc
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal
from itertools import islice
from operator import eq, itemgetter
from typing import Any

from schemas.catalogue import DIRECTIONS
from schemas.fields import MAX_DECIMAL_PLACES
from schemas.periods import parse_period

__all__ = [
    "DEFAULT_MIN_CITIES",
    "NETWORK_SCOPE",
    "TREND_REL_TOL",
    "TRENDS",
    "BenchmarkGroup",
    "GroupStats",
    "Position",
    "compute_benchmarks",
    "decimal_text",
    "group_stats",
    "latest_revisions",
    "position",
    "previous_period",
    "stats_of_sorted",
    "trend",
]

DEFAULT_MIN_CITIES = 5
NETWORK_SCOPE = "network"  # the scope holding every city, beside one scope per region
TRENDS = ("improving", "worsening", "stable", "no_data")
# Relative tolerance under which two values count as equal for a trend. Wire values are decimal
# strings, and equal strings give bit-identical floats, so for reported figures this is exact
# equality; the tolerance only absorbs the last-bit noise of computed statistics (a median of
# two values, a mean), which must not turn into "improving" or "worsening".
TREND_REL_TOL = 1e-9

# A row as stored in ``benchmark_inputs`` and handed over by the database layer:
# (city_id, indicator, period, revision, value, envelope_sha256).
Row = Sequence[Any]


# --- one group ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupStats:
    """The published statistics of one group: count, five-number summary, mean.

    ``sorted_values`` is the anonymous distribution (ascending): ranks, percentiles and the
    distribution chart are read from it with :mod:`bisect`.
    """

    n: int
    min: float
    q1: float
    median: float
    q3: float
    max: float
    mean: float
    sorted_values: tuple[float, ...] = field(repr=False)

    def as_wire(self, digits: int = 6) -> dict[str, str]:
        """The statistics as decimal strings, in the shape of ``BenchmarkStatsSchema``."""
        return {
            "min": decimal_text(self.min, digits),
            "q1": decimal_text(self.q1, digits),
            "median": decimal_text(self.median, digits),
            "q3": decimal_text(self.q3, digits),
            "max": decimal_text(self.max, digits),
            "mean": decimal_text(self.mean, digits),
        }


def _check_min_cities(min_cities: int) -> None:
    # Below 1 an empty group would be "published" with no values to describe: refuse early.
    if isinstance(min_cities, bool) or not isinstance(min_cities, int) or min_cities < 1:
        raise ValueError(f"min_cities must be an integer >= 1, not {min_cities!r}")


def _mean(s: Sequence[float]) -> float:
    """``statistics.fmean`` of an ascending, non-empty list, without its cost where possible."""
    n = len(s)
    if s[0] >= 0.0 or s[-1] <= 0.0:
        # Values of one sign (rates, counts, shares: nearly every indicator) cannot cancel,
        # so the plain sum is within n·2^-53 relative of the exact one (~1e-13 for 1,000
        # cities), invisible at 6 significant digits, and several times faster than fsum,
        # which otherwise dominates the recompute. Mixed signs can cancel: fsum, as fmean.
        total = sum(s)
    else:
        try:
            total = math.fsum(s)
        except OverflowError:
            total = math.inf  # huge finite values: handled below
        except ValueError as exc:  # +inf and -inf
            raise ValueError("benchmark values must be finite numbers") from exc
    if math.isfinite(total):
        return total / n
    # NaN or an infinity got this far (one check per group is all it costs), or the sum of
    # huge finite values overflowed although their mean fits: divide first, then add.
    if not all(map(math.isfinite, s)):
        raise ValueError("benchmark values must be finite numbers")
    try:
        mean = math.fsum(v / n for v in s)
    except OverflowError:
        # Values at the very top of the float range: the n rounded quotients can add up to a
        # hair above the largest float (3 x max/3). Halve once more (exact for such values)
        # and scale back.
        mean = math.fsum(v / (2 * n) for v in s) * 2
    # A mean lies between the extremes; rounding must not push it out (or to infinity).
    return min(max(mean, s[0]), s[-1])


def _cut(s: Sequence[float], i: int, m: int) -> float:
    """The i-th of the 3 quartile cut points of ascending ``s`` with ``m = len(s) - 1``.

    ``statistics.quantiles(method="inclusive")``: position i*m/4, interpolated between its
    two neighbours with the very expression of the standard library, so the two agree to the
    last bit. Only if that overflows (values near 1e308) the weights are applied first.
    """
    j, delta = divmod(i * m, 4)
    value = (s[j] * (4 - delta) + s[j + 1] * delta) / 4
    if math.isinf(value):
        value = s[j] * ((4 - delta) / 4) + s[j + 1] * (delta / 4)
    return value


def _stats_of_sorted(s: Sequence[float]) -> GroupStats:
    """Statistics of an ascending, non-empty list (it is kept, as a tuple, in the result)."""
    n = len(s)
    mean = _mean(s)
    if n == 1:
        only = s[0]
        return GroupStats(1, only, only, only, only, only, only, (only,))
    m = n - 1
    half = n // 2
    if n % 2:
        median = s[half]
    else:  # statistics.median: the mean of the two middle values
        median = (s[half - 1] + s[half]) / 2
        if math.isinf(median):
            median = s[half - 1] / 2 + s[half] / 2
    return GroupStats(n, s[0], _cut(s, 1, m), median, _cut(s, 3, m), s[-1], mean, tuple(s))


def stats_of_sorted(values: Sequence[float]) -> GroupStats:
    """Statistics of ``values`` that are already ascending and non-empty (not checked: that
    would cost the O(n) this function exists to avoid). The incremental benchmark update keeps
    each group's values sorted and calls this; :func:`group_stats` sorts first. Both give the
    very same floats for the same values."""
    return _stats_of_sorted(values)


def group_stats(values: Sequence[float], min_cities: int) -> GroupStats | None:
    """Statistics of ``values`` (one per city), or None when fewer than ``min_cities``.

    None means *suppressed*: the group is too small to publish anything about it, not even
    its minimum or maximum (with three cities, the maximum often *is* one city's figure).
    The input order does not matter; it is sorted once. Raises ValueError on NaN/infinity.
    """
    _check_min_cities(min_cities)
    if len(values) < min_cities:
        return None
    return _stats_of_sorted(sorted(values))


# --- revisions ---------------------------------------------------------------------------------


def latest_revisions(rows: Iterable[Row]) -> list[Row]:
    """Only the highest revision of each (city, indicator, period), in first-seen order.

    Rows are ``(city_id, indicator, period, revision, value, envelope_sha256)`` tuples or
    records. A lower revision never replaces a higher one, whichever arrives first. Equal
    revisions of one key cannot come from storage (its unique constraint forbids them); should
    they occur anyway, the later row wins, as in :func:`compute_benchmarks`.
    """
    latest: dict[tuple[Any, Any, Any], Row] = {}
    get = latest.get
    for row in rows:
        key = (row[0], row[1], row[2])
        kept = get(key)
        if kept is None or row[3] >= kept[3]:
            latest[key] = row
    return list(latest.values())


# --- a city in its group -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """Where one city's value stands in a group (see the module docstring for definitions).

    For direction ``context`` only ``value`` and ``n`` are set: there is no better side.
    """

    value: float
    n: int
    rank: int | None  # 1 = best; ties share the best rank (competition ranking)
    percentile: float | None  # 0-100, share of cities it does at least as well as
    quartile: int | None  # 1 = best quarter ... 4 = worst
    distance_to_best_quartile: float | None  # how far from the best quarter; 0 inside it


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")


def position(stats: GroupStats | None, value: float, direction: str) -> Position | None:
    """The position of ``value`` in the group described by ``stats``.

    None for a suppressed group (``stats is None``): a rank among three cities would tell
    each of them too much about the others. ``value`` need not be one of the group's values
    (a city may compare itself with another region); it is then placed among them.
    """
    _check_direction(direction)
    if stats is None:
        return None
    s, n = stats.sorted_values, stats.n
    if direction == "context":
        return Position(value, n, None, None, None, None)
    if direction == "good_up":
        not_better = bisect_right(s, value)  # values <= value: the city does as well or better
        rank = n - not_better + 1  # 1 + the number of strictly higher (better) values
        distance = max(0.0, stats.q3 - value)
        if value >= stats.q3:
            quartile = 1
        elif value >= stats.median:
            quartile = 2
        elif value >= stats.q1:
            quartile = 3
        else:
            quartile = 4
    else:  # good_down
        not_better = n - bisect_left(s, value)  # values >= value
        rank = bisect_left(s, value) + 1  # 1 + the number of strictly lower (better) values
        distance = max(0.0, value - stats.q1)
        if value <= stats.q1:
            quartile = 1
        elif value <= stats.median:
            quartile = 2
        elif value <= stats.q3:
            quartile = 3
        else:
            quartile = 4
    return Position(value, n, rank, 100.0 * not_better / n, quartile, distance)


def trend(
    current: float | None,
    previous: float | None,
    direction: str,
    *,
    rel_tol: float = TREND_REL_TOL,
) -> str:
    """Compare a value with the previous period's: improving, worsening, stable or no_data.

    ``no_data`` when either value is missing (or NaN), and always for ``context`` indicators, which
    have no better side (a change there is neither good nor bad news). Two values within
    ``rel_tol`` of each other (relative to the larger) are ``stable``; exactly equal values
    always are.
    """
    _check_direction(direction)
    if current is None or previous is None or direction == "context":
        return "no_data"
    if math.isnan(current) or math.isnan(previous):  # not a figure: nothing to compare
        return "no_data"
    if current == previous or math.isclose(current, previous, rel_tol=rel_tol, abs_tol=0.0):
        return "stable"
    went_up = current > previous
    return "improving" if went_up == (direction == "good_up") else "worsening"


def previous_period(period: str) -> str:
    """The period of the same kind just before ``period`` (``2025-Q1`` → ``2024-Q4``)."""
    return str(parse_period(period).previous())


# --- the full recompute ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BenchmarkGroup:
    """One (indicator, period, scope) group, published or suppressed.

    ``stats`` is None exactly when ``suppressed``. ``sources`` (the sorted, distinct envelope
    hashes the group was computed from) and ``values_by_city`` are kept for every group, so
    positions can be computed and a later recompute can tell what changed, but they are
    internal: a suppressed group publishes neither, and ``values_by_city`` is never published
    as such (only the anonymous ``stats.sorted_values``). Both are left out of ``repr`` so
    they do not end up in logs either.
    """

    indicator: str
    period: str
    scope: str
    direction: str
    n: int
    suppressed: bool
    stats: GroupStats | None
    sources: tuple[str, ...] = field(repr=False)
    values_by_city: dict[str, float] = field(repr=False)


def compute_benchmarks(
    rows: Iterable[Row],
    regions: Mapping[str, str | None],
    directions: Mapping[str, str],
    min_cities: int = DEFAULT_MIN_CITIES,
) -> list[BenchmarkGroup]:
    """Every benchmark group of ``rows``: per core indicator × period × (region, network).

    ``rows`` are ``(city_id, indicator, period, revision, value, envelope_sha256)`` with
    ``value`` already a float (the database layer converts the decimal text once). Only the
    latest revision of each (city, indicator, period) counts, exactly as
    :func:`latest_revisions` decides. ``directions`` maps each core indicator to its
    direction: rows of other indicators are ignored. A city missing from ``regions`` (or
    mapped to None) counts in the network scope only. Groups come sorted by indicator, period
    (chronologically) and scope, the network first; each is published (``stats`` set) only
    with at least ``min_cities`` cities, and suppressed groups are returned too, so the caller
    can withdraw what was published before.
    """
    _check_min_cities(min_cities)
    for direction in directions.values():
        _check_direction(direction)
    if NETWORK_SCOPE in regions.values():
        raise ValueError(f"no region may be called {NETWORK_SCOPE!r}: that is the whole network")

    with _gc_paused():
        return _compute(rows, regions, directions, min_cities)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector for the duration of one recompute.

    The recompute creates some 100,000 container objects (lists, dicts, tuples) that live
    until it ends and form no cycles; each of them counts towards the collector's thresholds,
    which then runs full collections that walk every one of the million rows again, for
    nothing (measured: 10-20 % of the recompute). Reference counting still frees everything
    as usual. The previous state is restored, so a caller that disabled the collector itself
    keeps it disabled.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _compute(
    rows: Iterable[Row],
    regions: Mapping[str, str | None],
    directions: Mapping[str, str],
    min_cities: int,
) -> list[BenchmarkGroup]:
    """:func:`compute_benchmarks` itself, arguments already checked."""
    # Revisions ascending, stably: within every group a city's later row is then its latest
    # revision (or, for equal revisions, the later input row), so a plain dict built from the
    # group keeps the right one. Almost all rows share revision 1: Timsort does this in O(n).
    ordered = sorted(rows, key=_REVISION)

    # The one Python-level pass over the rows: bucket them by (indicator, period, region) into
    # three parallel lists (cities, values, envelope hashes). Everything after it runs on those
    # compact lists with C-level operations; going back to the row objects instead would cost a
    # cache miss per row and field. A city's region is fixed, so all revisions of one
    # (city, indicator, period) land in the same bucket, where they are settled below.
    buckets: dict[tuple[Any, Any, Any], tuple[Any, ...]] = {}
    get_bucket = buckets.get
    region_of = regions.get
    last_city: Any = _NOTHING
    last_sha: Any = _NOTHING
    region = None
    for city, indicator, period, _revision, value, sha in ordered:
        # Rows come envelope by envelope (one city and period, all its indicators), each with
        # its own copy of the city id and hash strings, as a database driver returns them.
        # Keeping one object per run of equal strings means the region is looked up once per
        # envelope, and later dict building, comparing and sorting touch a few thousand hot
        # objects instead of a million scattered ones (measured: 4x faster there). In any
        # other row order this is merely a cheap string comparison.
        if city == last_city:
            city = last_city
        else:
            last_city = city
            region = region_of(city)
        if sha == last_sha:
            sha = last_sha
        else:
            last_sha = sha
        key = (indicator, period, region)
        bucket = get_bucket(key)
        if bucket is None:
            cities, values, shas = [city], [value], [sha]
            # The bound append methods are stored once per bucket, not looked up per row.
            buckets[key] = (cities, values, shas, cities.append, values.append, shas.append)
        else:
            _, _, _, add_city, add_value, add_sha = bucket
            add_city(city)
            add_value(value)
            add_sha(sha)

    by_pair: dict[tuple[Any, Any], list[tuple[Any, tuple[Any, ...]]]] = {}
    for (indicator, period, region), bucket in buckets.items():
        if indicator in directions:
            by_pair.setdefault((indicator, period), []).append((region, bucket))

    sources_cache = _SourcesCache()
    period_keys = {period: parse_period(period).sort_key for _, period in by_pair}
    result: list[BenchmarkGroup] = []
    for indicator, period in sorted(by_pair, key=lambda p: (p[0], period_keys[p[1]])):
        direction = directions[indicator]
        network_values: list[float] = []
        network_by_city: dict[Any, float] = {}
        regional_sources: list[tuple[str, ...]] = []
        regional: list[BenchmarkGroup] = []
        for region, (cities, values, shas, *_) in sorted(
            by_pair[(indicator, period)], key=_region_sort_key
        ):
            by_city = dict(zip(cities, values, strict=True))  # later (= latest) row wins
            if len(by_city) != len(cities):  # superseded revisions in this bucket
                values = list(by_city.values())
                shas = list(dict(zip(cities, shas, strict=True)).values())
            values.sort()  # the bucket's own list: sorted in place, kept by GroupStats
            sources = sources_cache.sorted_distinct((period, region), shas)
            network_values += values
            network_by_city.update(by_city)
            regional_sources.append(sources)
            if region is not None:
                regional.append(
                    _make_group(
                        indicator, period, region, direction, values, by_city, sources, min_cities
                    )
                )
        # Timsort finds the regions' sorted runs and merges them: cheaper than a fresh sort.
        network_values.sort()
        result.append(
            _make_group(
                indicator,
                period,
                NETWORK_SCOPE,
                direction,
                network_values,
                network_by_city,
                sources_cache.union(regional_sources),
                min_cities,
            )
        )
        result.extend(regional)
    return result


_REVISION = itemgetter(3)
_NOTHING = object()  # equal to no city id and no hash


class _SourcesCache:
    """Sorted, distinct envelope hashes per group, shared between groups where possible.

    One summary envelope carries all of a city's indicators for a period, so the groups of
    every indicator of one (period, region) usually list the very same envelopes in the very
    same order. Comparing a bucket's hashes with the previous bucket's of that (period,
    region) is a C-level list comparison; when equal, the sorted tuple is reused instead of
    sorting again, and the groups share one tuple in memory.
    """

    def __init__(self) -> None:
        self._last: dict[Any, tuple[list[str], tuple[str, ...]]] = {}
        # Keyed by the ids of the regional tuples; each entry keeps those tuples alive, so an
        # id cannot be reused by another tuple while the entry exists.
        self._unions: dict[tuple[int, ...], tuple[list[tuple[str, ...]], tuple[str, ...]]] = {}

    def sorted_distinct(self, slot: Any, shas: list[str]) -> tuple[str, ...]:
        """The sorted, distinct hashes of one bucket; ``slot`` is its (period, region)."""
        last = self._last.get(slot)
        if last is not None and last[0] == shas:
            return last[1]
        ordered = sorted(shas)
        # Different cities never share an envelope, so duplicates are not expected: check for
        # adjacent equal hashes in C and only build a set when there are any.
        if any(map(eq, ordered, islice(ordered, 1, None))):
            ordered = sorted(set(ordered))
        result = tuple(ordered)
        self._last[slot] = (shas, result)
        return result

    def union(self, parts: list[tuple[str, ...]]) -> tuple[str, ...]:
        """The sorted, distinct union of sorted tuples (the network's sources)."""
        # The cached tuples stay alive in self._last or here, so their ids are stable keys.
        key = tuple(map(id, parts))
        cached = self._unions.get(key)
        if cached is not None:
            return cached[1]
        merged: list[str] = []
        for part in parts:
            merged += part
        merged.sort()  # sorted runs again: Timsort merges them
        if any(map(eq, merged, islice(merged, 1, None))):
            merged = sorted(set(merged))
        result = tuple(merged)
        self._unions[key] = (parts, result)
        return result


def _region_sort_key(item: tuple[Any, Any]) -> tuple[bool, str]:
    # Cities without a region first (they only feed the network), then regions by name.
    region = item[0]
    return (region is not None, "" if region is None else str(region))


def _make_group(
    indicator: str,
    period: str,
    scope: str,
    direction: str,
    sorted_values: list[float],
    by_city: dict[str, float],
    sources: tuple[str, ...],
    min_cities: int,
) -> BenchmarkGroup:
    n = len(sorted_values)
    # Below the threshold no statistic is even computed: nothing exists that could leak.
    stats = _stats_of_sorted(sorted_values) if n >= min_cities else None
    return BenchmarkGroup(
        indicator=indicator,
        period=period,
        scope=scope,
        direction=direction,
        n=n,
        suppressed=stats is None,
        stats=stats,
        sources=sources,
        values_by_city=by_city,
    )


# --- wire text ---------------------------------------------------------------------------------

_WIDE = Context(prec=400)  # wide enough that quantize never fails for any finite float


def decimal_text(x: float, digits: int = 6, *, max_places: int = MAX_DECIMAL_PLACES) -> str:
    """A float statistic as a plain decimal string: ``digits`` significant digits at most.

    No exponent, no trailing zeros, no ``-0``; never more than ``max_places`` decimal places
    (12 by default, the wire's limit, so ``parse_decimal`` accepts the result for any value
    below 10^28 when ``digits`` <= 16): ``1234.5678`` → ``"1234.57"``, ``1e-7`` →
    ``"0.0000001"``, ``2e9`` → ``"2000000000"``. Rounding is half-even on the float's exact
    binary value.
    """
    if not math.isfinite(x):
        raise ValueError(f"cannot render {x!r} as a decimal")
    if digits < 1:
        raise ValueError("digits must be at least 1")
    number = Decimal(format(x, f".{digits}g"))  # correctly rounded to `digits` significant
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > max_places:
        # Round the float's exact value once, to the place limit (rounding the already
        # rounded text again could round twice: 1.4999996e-12 would become 2e-12).
        number = Decimal(x).quantize(Decimal(1).scaleb(-max_places), ROUND_HALF_EVEN, _WIDE)
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":  # a negative value that rounded to zero
        return "0"
    return text
