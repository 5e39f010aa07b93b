"""Regional benchmarks, computed by the secretariat from its members' signed summaries.

For each core indicator × period × scope (each region, and the whole network): how many cities
reported, min, quartiles, median, max, mean — published only where at least
``benchmark_min_cities`` cities reported (smaller groups are never sent, not even their size).
Each member receives the groups it is in, with its own rank, percentile, quartile, distance to
the best quartile and trend, and the envelope hashes the figures came from, so anyone can
re-verify them.

Only each city's latest revision counts (older ones are replaced in ``benchmark_inputs``; the
envelopes stay in the audit log), only cities following the secretariat's catalogue version
(benchmarks compare like with like), and only indicators that are core in it. The maths is in
:mod:`node.secretariat.stats`.

Speed matters here: 1,000 cities × 100 indicators × 10 periods must be recomputed in under 2 s,
and one new summary folded in in under 50 ms. So every group keeps its values, sorted, in the
database (``BenchmarkGroup.sorted_values``). A new summary reads only the groups it touches
(its indicators, in the network and in its city's region: one query), moves the city's value
with a bisect, recomputes those groups' statistics from the sorted values and writes them
back in one batch. The full recompute reads the inputs through the raw DB-API cursor
(PostgreSQL groups and sorts them itself) and writes every group in one batch. Both paths
compute the statistics with the same function from the same sorted values, so they agree to
the last bit; tests check that they do.

The incremental update is only right while what the groups were computed against — catalogue
version, core indicators, ``benchmark_min_cities``, members and their regions — stays the same.
That is recorded as a digest (:class:`BenchmarkBasis`); when it changed (a member removed, a
new core catalogue), the next update or publication recomputes everything first.
"""

from __future__ import annotations

import hashlib
import json
import sys
from array import array
from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain, groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.models import Indicator
from node.network import port
from node.network.port import Peer
from node.secretariat import stats
from node.secretariat.models import BenchmarkBasis, BenchmarkGroup, BenchmarkInput
from node.services import catalogue
from schemas.fields import parse_decimal
from schemas.periods import parse_period
from schemas.secretariat import BENCHMARK_STREAM, BENCHMARK_TYPE

NETWORK = stats.NETWORK_SCOPE
MEMBER_STATES = ("active", "suspended")  # a suspended city's earlier figures still count
UNASSIGNED = "unassigned"  # the region of a member that has none

GroupKey = tuple[str, str]  # (indicator, period)

# Transaction-level advisory lock on PostgreSQL ("hrcbench" as a number). Why: two summaries
# arriving at once would each read a group's sorted values, add their city and write them
# back, and the second write would drop the first city (a lost update that, unlike before
# the values were kept, no later summary repairs). Updates take well under 50 ms, so making
# them wait for each other costs nothing noticeable. On SQLite (one writer at a time) see
# ``_SQLITE_LOCK``.
_PG_LOCK = int.from_bytes(b"hrcbench", "big")
# SQLite's write lock, taken by a write that changes nothing. Why: a transaction that has only
# read holds no lock. The publication job read the dirty groups; a summary arriving meanwhile
# (in a web worker) committed a group's new values marked dirty; the job's "dirty = false" then
# overwrote that mark, and the city whose summary it was never received the group (seen in the
# demo network once its jobs ran every second). Holding the write lock from the first read, the
# job and the summary take turns. (A summary already holds it: the inbox stored its envelope.)
_SQLITE_LOCK = "UPDATE benchmark_basis SET id = id WHERE 0"


def catalogue_version(session: Session) -> str | None:
    """The core catalogue version this node follows (what benchmarks compare)."""
    return catalogue.current_version(session)


def directions(session: Session) -> dict[str, str]:
    """Indicator code → direction (``good_up``, ``good_down`` or ``context``)."""
    return {
        code: direction
        for code, direction in session.execute(select(Indicator.code, Indicator.direction))
    }


def regions(session: Session) -> dict[str, str]:
    """Member city → region (``unassigned`` when it has none): the cities that count."""
    with _db(session) as db:
        return _members(db)


# --- stored distributions -----------------------------------------------------------------------

# IEEE 754 doubles in big-endian order, 8 bytes each: exactly what PostgreSQL's float8send
# produces, so the server can pack a group's values itself (one aggregate) and Python only
# swaps bytes, in C, on little-endian machines.
_SWAP = sys.byteorder == "little"


def pack_values(values: Iterable[float]) -> bytes:
    """A group's values (ascending) as stored in ``BenchmarkGroup.sorted_values``."""
    packed = array("d", values)
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def unpack_values(blob: bytes) -> array[float]:
    """The values of a ``sorted_values`` blob, as an array of doubles (ascending)."""
    values = array("d")
    values.frombytes(blob)
    if _SWAP:
        values.byteswap()
    return values


# --- raw database access ------------------------------------------------------------------------


class _Db:
    """Raw DB-API statements on the session's own connection (so inside its transaction):
    1M rows through the ORM cost seconds, through the driver a fraction of one. Statements
    use ``?`` placeholders, rewritten for PostgreSQL's driver."""

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.dialect = connection.dialect
        self.sqlite = self.dialect.name == "sqlite"
        self.cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def _sql(self, sql: str) -> str:
        return sql if self.sqlite else sql.replace("?", "%s")

    def all(
        self, sql: str, params: Sequence[Any] = (), *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        """Every row; ``binary`` asks PostgreSQL for its binary format (blobs arrive as they
        are instead of as hex text: measurably faster for the packed distributions)."""
        if binary and not self.sqlite:
            self.cursor.execute(self._sql(sql), params, binary=True)  # type: ignore[call-arg]
        else:
            self.cursor.execute(self._sql(sql), params)
        return list(self.cursor.fetchall())

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(self._sql(sql), params)

    def many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.cursor.executemany(self._sql(sql), rows)

    def lock(self) -> None:
        """Serialise benchmark updates until the transaction ends (see ``_PG_LOCK`` and
        ``_SQLITE_LOCK`` for why)."""
        if self.sqlite:
            self.run(_SQLITE_LOCK)
        else:
            self.run("SELECT pg_advisory_xact_lock(?)", [_PG_LOCK])

    def timestamp(self, now: datetime) -> Any:
        """``now`` as the ``computed_at`` column stores it (the model's own conversion)."""
        column_type = BenchmarkGroup.__table__.c.computed_at.type
        process = column_type.bind_processor(self.dialect)
        return process(now) if process is not None else now


@contextmanager
def _db(session: Session) -> Iterator[_Db]:
    # Pending ORM changes first: the raw statements below must see them.
    session.flush()
    db = _Db(session)
    try:
        yield db
    finally:
        db.cursor.close()
    # Objects of these tables the session may hold are stale now: reload them when used.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, (BenchmarkGroup, BenchmarkInput, BenchmarkBasis)):
            session.expire(obj)


def _raw(session: Session, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with _db(session) as db:
        return db.all(sql, params)


# --- what the groups are computed against --------------------------------------------------------


def _members(db: _Db) -> dict[str, str]:
    """:func:`regions` on an open raw connection."""
    rows = db.all(
        "SELECT city_id, region FROM peers WHERE role = 'city' AND state IN (?, ?)",
        MEMBER_STATES,
    )
    return {city: region or UNASSIGNED for city, region in rows}


def _basis(
    config: NodeConfig, version: str | None, core: frozenset[str], members: dict[str, str]
) -> str:
    text = json.dumps(
        [version, sorted(core), config.benchmark_min_cities, sorted(members.items())],
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stored_basis(db: _Db) -> str | None:
    rows = db.all("SELECT digest FROM benchmark_basis WHERE id = 1")
    return rows[0][0] if rows else None


def _catalogue(db: _Db) -> tuple[str | None, frozenset[str]]:
    """:func:`catalogue_version` and the codes of the core indicators, in one raw query (the
    summary path runs it for every summary)."""
    rows = db.all("SELECT code, catalogue_version FROM indicators WHERE core = ?", [True])
    versions = {version for _, version in rows if version}
    newest = max(versions, key=catalogue.version_key) if versions else None
    return newest, frozenset(code for code, _ in rows)


def ensure_current(session: Session, config: NodeConfig, now: datetime) -> bool:
    """Recompute every group if what they were computed against changed (members, regions,
    catalogue, ``benchmark_min_cities``). Returns True when it did."""
    with _db(session) as db:
        db.lock()
        version, core = _catalogue(db)
        members = _members(db)
        if _stored_basis(db) == _basis(config, version, core, members):
            return False
        _recompute_all(db, config, version, core, members, now)
    return True


# --- computing groups ----------------------------------------------------------------------------

_INSERT_GROUP = (
    "INSERT INTO benchmark_groups (n, suppressed, stats, sorted_values, computed_at, dirty, "
    "indicator, period, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_GROUP = (
    "UPDATE benchmark_groups SET n = ?, suppressed = ?, stats = ?, sorted_values = ?, "
    "computed_at = ?, dirty = ? WHERE indicator = ? AND period = ? AND scope = ?"
)
_DELETE_GROUP = "DELETE FROM benchmark_groups WHERE indicator = ? AND period = ? AND scope = ?"


# The model's JSON column would write json.dumps({...}); the same text, 6x faster. A float's
# repr is its JSON form (statistics of decimal figures are always finite).
_STATS_JSON = (
    '{{"min": {0.min!r}, "q1": {0.q1!r}, "median": {0.median!r}, "q3": {0.q3!r}, '
    '"max": {0.max!r}, "mean": {0.mean!r}}}'
)


def _group_row(
    key: tuple[str, str, str],
    values: Sequence[float],
    keep: bool,
    min_cities: int,
    computed_at: Any,
) -> tuple[Any, ...]:
    """One group's row for ``_INSERT_GROUP`` / ``_UPDATE_GROUP`` from its ascending values,
    kept (packed) with it when ``keep`` (regions), or not (the network: see ``_key_rows``)."""
    n = len(values)
    # Below the threshold no statistic is even computed: nothing exists that could leak.
    group = stats.stats_of_sorted(values) if n >= min_cities else None
    return (
        n,
        group is None,
        "null" if group is None else _STATS_JSON.format(group),
        pack_values(values) if keep else None,
        computed_at,
        True,  # dirty: to be sent to members
        *key,
    )


_KEYS_SQL = (
    "SELECT DISTINCT indicator, period FROM benchmark_inputs "
    "WHERE catalogue_version = ? ORDER BY indicator, period"
)
_GROUP_SQL = (
    "SELECT city_id, value FROM benchmark_inputs "
    "WHERE catalogue_version = ? AND indicator = ? AND period = ?"
)


def _group_values(
    session: Session, version: str | None, keys: set[GroupKey] | None
) -> Iterator[tuple[GroupKey, list[tuple[str, float]]]]:
    """(indicator, period) → [(city, value)], one indexed query per pair (the covering index
    answers each without touching the table, and only two columns become Python objects)."""
    with _db(session) as db:
        yield from _pairs(db, version, keys)


def _pairs(
    db: _Db, version: str | None, keys: Iterable[GroupKey] | None
) -> Iterator[tuple[GroupKey, list[tuple[str, float]]]]:
    wanted = sorted(keys) if keys is not None else db.all(_KEYS_SQL, [version])
    for indicator, period in wanted:
        yield (indicator, period), db.all(_GROUP_SQL, [version, indicator, period])


def _rows_sqlite(
    db: _Db,
    version: str | None,
    core: frozenset[str],
    region_of: dict[str, str],
    min_cities: int,
    computed_at: Any,
) -> Iterator[tuple[Any, ...]]:
    """Every group's row, one indexed query per (indicator, period), bucketed in Python."""
    keys = [(i, p) for i, p in db.all(_KEYS_SQL, [version]) if i in core]
    for (indicator, period), pairs in _pairs(db, version, keys):
        by_region: dict[str, list[float]] = defaultdict(list)
        for city, value in pairs:
            region = region_of.get(city)
            if region is not None:  # removed members no longer count
                by_region[region].append(value)
        yield from _key_rows(indicator, period, by_region.items(), min_cities, computed_at)


def _key_rows(
    indicator: str,
    period: str,
    by_region: Iterable[tuple[str, Sequence[float]]],
    min_cities: int,
    computed_at: Any,
) -> Iterator[tuple[Any, ...]]:
    """The rows of one (indicator, period): each region's group (values kept, sorted) and
    the network's, whose values are all the regions' together (so they are not kept twice:
    a new summary then rewrites one small region blob, not the whole network's too)."""
    network: list[float] = []
    for region, values in by_region:
        if not values:
            continue
        ordered = values if isinstance(values, array) else sorted(values)
        network += ordered
        yield _group_row((indicator, period, region), ordered, True, min_cities, computed_at)
    if network:
        network.sort()  # sorted runs: Timsort merges them
        yield _group_row((indicator, period, NETWORK), network, False, min_cities, computed_at)


_PG_GROUPS_SQL = """
SELECT i.indicator, i.period, COALESCE(p.region, 'unassigned'),
       string_agg(float8send(i.value), ''::bytea ORDER BY i.value)
FROM benchmark_inputs i JOIN peers p ON p.city_id = i.city_id
WHERE i.catalogue_version = ? AND p.role = 'city' AND p.state IN ('active', 'suspended')
GROUP BY i.indicator, i.period, COALESCE(p.region, 'unassigned')
ORDER BY i.indicator, i.period
"""


def _rows_postgresql(
    db: _Db, version: str | None, core: frozenset[str], min_cities: int, computed_at: Any
) -> Iterator[tuple[Any, ...]]:
    """Every group's row: PostgreSQL groups, sorts and packs each region's values (float8send
    is our storage format) in one round trip; the statistics are computed here, by the same
    code as the incremental update, so both give the same floats. (Core indicators are picked
    here, not in SQL: a filter on the indicator makes the planner drop the covering index.)"""
    rows = db.all(_PG_GROUPS_SQL, [version], binary=True)
    for (indicator, period), group in groupby(rows, key=itemgetter(0, 1)):
        if indicator in core:
            by_region = [(region, unpack_values(blob)) for _, _, region, blob in group]
            yield from _key_rows(indicator, period, by_region, min_cities, computed_at)


def _recompute_all(
    db: _Db,
    config: NodeConfig,
    version: str | None,
    core: frozenset[str],
    members: dict[str, str],
    now: datetime,
) -> int:
    computed_at = db.timestamp(now)
    min_cities = config.benchmark_min_cities
    if db.sqlite:
        rows = list(_rows_sqlite(db, version, core, members, min_cities, computed_at))
    else:
        rows = list(_rows_postgresql(db, version, core, min_cities, computed_at))
    db.run("DELETE FROM benchmark_groups")
    db.many(_INSERT_GROUP, rows)
    db.run("DELETE FROM benchmark_basis")
    db.run(
        "INSERT INTO benchmark_basis (id, digest, computed_at) VALUES (1, ?, ?)",
        [_basis(config, version, core, members), computed_at],
    )
    return len(rows)


def full_recompute(session: Session, config: NodeConfig, now: datetime) -> int:
    """Recompute every group from every input (``hrcnet benchmarks recompute``); returns the
    number of groups, published or suppressed."""
    with _db(session) as db:
        db.lock()
        version, core = _catalogue(db)
        return _recompute_all(db, config, version, core, _members(db), now)


# --- one new summary -----------------------------------------------------------------------------

_CITY_INPUTS_SQL = (
    "SELECT indicator, id, revision, value, catalogue_version FROM benchmark_inputs "
    "WHERE city_id = ? AND period = ?"
)
_INSERT_INPUT = (
    "INSERT INTO benchmark_inputs (city_id, indicator, period, revision, value_text, value, "
    "catalogue_version, envelope_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_INPUT = (
    "UPDATE benchmark_inputs SET revision = ?, value_text = ?, value = ?, catalogue_version = ?, "
    "envelope_sha256 = ? WHERE id = ?"
)

# (indicator, the city's value to take out of its groups, the value to put in): None where
# the value did not / does not count (another catalogue version, or not a member).
Move = tuple[str, float | None, float | None]


def _totals(payload: dict[str, Any], core: frozenset[str]) -> dict[str, str]:
    """Indicator → the city's total (decimal text) for the core indicators of a summary,
    reported directly or through a local indicator's ``maps_to``."""
    totals: dict[str, str] = {}
    direct: set[str] = set()
    for indicator in payload["indicators"]:
        code = indicator["code"] if indicator["core"] else indicator.get("maps_to")
        if code not in core or indicator.get("value_type") == "boolean":
            continue
        # A city's own figure for the core indicator is what the core indicator means; a local
        # indicator mapped to it (often a related measure in another unit, e.g. a count or a
        # percent for a rate per 10,000) only stands in when there is none, and the first one
        # found counts: a later mapped one must not overwrite it.
        if code in direct or (code in totals and not indicator["core"]):
            continue
        total = next((f for f in indicator["results"] if not f["disaggregation"]), None)
        if total is not None and isinstance(total["value"], str):
            totals[code] = total["value"]
            if indicator["core"]:
                direct.add(code)
    return totals


def ingest_summary(
    session: Session,
    config: NodeConfig,
    peer: Peer,
    payload: dict[str, Any],
    *,
    digest: str,
    now: datetime,
) -> int:
    """Record a member's totals for core indicators (directly or via ``maps_to``) and update the
    groups they fall in. A lower revision arriving late never replaces a higher one. Returns
    the number of indicators whose figure changed."""
    period, revision = payload["period"], payload["revision"]
    sent_version = payload.get("catalogue_version")
    counts = peer.role == "city" and peer.state in MEMBER_STATES
    with _db(session) as db:
        version, core = _catalogue(db)
        totals = _totals(payload, core)
        if not totals:
            return 0
        db.lock()
        existing = {row[0]: row[1:] for row in db.all(_CITY_INPUTS_SQL, [peer.city_id, period])}
        inserts, updates, moves = [], [], []
        for code, text in sorted(totals.items()):
            # + 0.0 turns -0 into 0: one number, one bit pattern in the packed distributions.
            value = float(parse_decimal(text)) + 0.0
            new = value if counts and sent_version == version else None
            before = existing.get(code)
            if before is None:
                inserts.append(
                    (peer.city_id, code, period, revision, text, value, sent_version, digest)
                )
                moves.append((code, None, new))
            elif before[1] < revision:
                row_id, _, old_value, old_version = before
                updates.append((revision, text, value, sent_version, digest, row_id))
                moves.append((code, old_value if counts and old_version == version else None, new))
        db.many(_INSERT_INPUT, inserts)
        db.many(_UPDATE_INPUT, updates)
        changing = [m for m in moves if m[1] is not None or m[2] is not None]
        if changing:
            members = _members(db)
            basis = _basis(config, version, core, members)
            region = members.get(peer.city_id, UNASSIGNED)
            if _stored_basis(db) != basis or not _move(db, config, period, region, changing, now):
                # The groups were computed against something else (or are not what the inputs
                # say): recompute them all, this summary included.
                _recompute_all(db, config, version, core, members, now)
    return len(moves)


def _move(
    db: _Db, config: NodeConfig, period: str, region: str, moves: list[Move], now: datetime
) -> bool:
    """Apply the moves to the city's region groups and recompute the network groups from
    their regions; False, writing nothing, when a stored group does not hold what it should
    (the caller then recomputes everything)."""
    indicators = sorted({m[0] for m in moves})
    placeholders = ",".join("?" * len(indicators))  # only placeholders are interpolated
    rows = db.all(
        "SELECT indicator, scope, sorted_values FROM benchmark_groups "  # noqa: S608
        f"WHERE period = ? AND indicator IN ({placeholders})",
        [period, *indicators],
        binary=True,
    )
    stored: dict[str, dict[str, bytes | None]] = defaultdict(dict)
    for indicator, scope, blob in rows:
        stored[indicator][scope] = blob
    min_cities, computed_at = config.benchmark_min_cities, db.timestamp(now)
    inserts, updates, deletes = [], [], []

    def write(
        key: tuple[str, str, str], existed: bool, values: Sequence[float], keep: bool
    ) -> None:
        if values:
            row = _group_row(key, values, keep, min_cities, computed_at)
            (updates if existed else inserts).append(row)
        elif existed:
            deletes.append(key)

    for indicator, old, new in moves:
        groups = stored[indicator]
        network_existed = NETWORK in groups
        groups.pop(NETWORK, None)
        if any(blob is None for blob in groups.values()):
            return False  # a region group without its values: written before they were kept
        by_region = {scope: unpack_values(blob) for scope, blob in groups.items()}  # type: ignore[arg-type]
        values = by_region.setdefault(region, array("d"))
        if old is not None:
            at = bisect_left(values, old)
            if at == len(values) or values[at] != old:
                return False
            del values[at]
        if new is not None:
            insort(values, new)
        write((indicator, period, region), region in groups, values, True)
        network = sorted(chain.from_iterable(by_region.values()))
        write((indicator, period, NETWORK), network_existed, network, False)
    db.many(_UPDATE_GROUP, updates)
    db.many(_INSERT_GROUP, inserts)
    db.many(_DELETE_GROUP, deletes)
    return True


# --- what members are sent ------------------------------------------------------------------------


def _inputs_for(session: Session, keys: set[GroupKey]) -> dict[GroupKey, dict[str, float]]:
    """City → value for each (indicator, period), including the previous periods (trends)."""
    wanted = keys | {(i, str(parse_period(p).previous())) for i, p in keys}
    version = catalogue_version(session)
    by_key: dict[GroupKey, dict[str, float]] = defaultdict(dict)
    for key, pairs in _group_values(session, version, wanted):
        by_key[key].update(pairs)
    return by_key


def _sources(session: Session, periods: set[str]) -> dict[tuple[str, str], list[str]]:
    """Envelope hashes of the summaries behind each (period, scope): the provenance."""
    if not periods:
        return {}
    region_of = regions(session)
    placeholders = ",".join("?" * len(periods))  # only placeholders are interpolated
    sql = f"SELECT DISTINCT period, city_id, envelope_sha256 FROM benchmark_inputs WHERE period IN ({placeholders})"  # noqa: E501, S608
    rows = _raw(session, sql, sorted(periods))
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for period, city, digest in rows:
        if city in region_of:
            out[(period, NETWORK)].add(digest)
            out[(period, region_of[city])].add(digest)
    return {key: sorted(hashes) for key, hashes in out.items()}


def member_view(
    group: BenchmarkGroup,
    values: dict[str, float],
    previous: dict[str, float],
    previous_group: BenchmarkGroup | None,
    sources: list[str],
    city_id: str | None,
    direction: str,
    region_of: dict[str, str],
) -> dict[str, Any]:
    """One group as a member sees it: statistics, anonymous distribution, sources, position."""
    assert group.stats is not None
    in_scope = [
        v for c, v in values.items() if group.scope == NETWORK or region_of.get(c) == group.scope
    ]
    distribution = stats.group_stats(in_scope, 1)
    view: dict[str, Any] = {
        "indicator": group.indicator,
        "period": group.period,
        "scope": group.scope,
        "direction": direction,
        "n": group.n,
        # Numbers travel as decimal strings, never as JSON floats (payload rule).
        "stats": {name: stats.decimal_text(value) for name, value in group.stats.items()},
        "distribution": [stats.decimal_text(v) for v in sorted(in_scope)],
        "sources": sources,
        "previous_median": (
            stats.decimal_text(previous_group.stats["median"])
            if previous_group is not None and previous_group.stats
            else None
        ),
        "position": None,
    }
    if city_id is not None and city_id in values and distribution is not None:
        value = values[city_id]
        place = stats.position(distribution, value, direction)
        before = previous.get(city_id)
        view["position"] = {
            "value": stats.decimal_text(value),
            "rank": place.rank if place else None,
            "percentile": stats.decimal_text(place.percentile) if place else None,
            "quartile": place.quartile if place else None,
            "distance_to_best_quartile": (
                stats.decimal_text(place.distance_to_best_quartile)
                if place is not None and place.distance_to_best_quartile is not None
                else None
            ),
            "previous_value": stats.decimal_text(before) if before is not None else None,
            "trend": stats.trend(value, before, direction),
        }
    return view


def publish_dirty(session: Session, config: NodeConfig, now: datetime) -> int:
    """Send every member the changed, publishable groups it is in (one envelope per member).
    Returns the number of members sent something."""
    ensure_current(session, config, now)  # a member may have left since the last update
    dirty = list(session.scalars(select(BenchmarkGroup).where(BenchmarkGroup.dirty.is_(True))))
    if not dirty:
        return 0
    keys = {(g.indicator, g.period) for g in dirty}
    values = _inputs_for(session, keys)
    sources = _sources(session, {g.period for g in dirty})
    direction_of = directions(session)
    region_of = regions(session)
    active = {
        p.city_id
        for p in session.scalars(select(Peer).where(Peer.role == "city", Peer.state == "active"))
    }
    previous_groups = {
        (g.indicator, g.period, g.scope): g
        for g in session.scalars(
            select(BenchmarkGroup).where(
                tuple_(BenchmarkGroup.indicator, BenchmarkGroup.period).in_(
                    sorted({(i, str(parse_period(p).previous())) for i, p in keys})
                )
            )
        )
    }
    per_city: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group in dirty:
        group.dirty = False
        if group.suppressed or group.stats is None:
            continue  # suppressed groups are never sent, not even their size
        key = (group.indicator, group.period)
        previous_key = (group.indicator, str(parse_period(group.period).previous()))
        members = [
            c
            for c in values.get(key, {})
            if group.scope == NETWORK or region_of.get(c) == group.scope
        ]
        for city_id in members:
            if city_id in active:
                per_city[city_id].append(
                    member_view(
                        group,
                        values[key],
                        values.get(previous_key, {}),
                        previous_groups.get((*previous_key, group.scope)),
                        sources.get((group.period, group.scope), []),
                        city_id,
                        direction_of.get(group.indicator, "context"),
                        region_of,
                    )
                )
    version = catalogue_version(session)
    for city_id, groups in sorted(per_city.items()):
        envelope = port.sign_and_store(
            session,
            config,
            type_=BENCHMARK_TYPE,
            schema=BENCHMARK_TYPE + "/1",
            stream=BENCHMARK_STREAM,
            audience=[city_id],
            now=now,
            payload={
                "min_cities": config.benchmark_min_cities,
                "catalogue_version": version,
                "groups": groups,
            },
        )
        port.queue(session, envelope, [city_id], now)
    session.flush()
    return len(per_city)


def published_groups(
    session: Session, indicator: str | None = None, period: str | None = None
) -> list[dict[str, Any]]:
    """Every publishable group, as the public sees it (no city named, no position)."""
    query = (
        select(BenchmarkGroup)
        .where(BenchmarkGroup.suppressed.is_(False))
        .order_by(BenchmarkGroup.indicator, BenchmarkGroup.period, BenchmarkGroup.scope)
    )
    if indicator:
        query = query.where(BenchmarkGroup.indicator == indicator)
    if period:
        query = query.where(BenchmarkGroup.period == period)
    groups = list(session.scalars(query))
    values = _inputs_for(session, {(g.indicator, g.period) for g in groups})
    sources = _sources(session, {g.period for g in groups})
    direction_of, region_of = directions(session), regions(session)
    return [
        member_view(
            g,
            values.get((g.indicator, g.period), {}),
            {},
            None,
            sources.get((g.period, g.scope), []),
            None,
            direction_of.get(g.indicator, "context"),
            region_of,
        )
        for g in groups
    ]
