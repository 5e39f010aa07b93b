"""The data version: one counter, bumped in the same transaction as every write that can change
what progress and the dashboard show (results, their latest figures, targets, the catalogue).

Progress at a million results assesses and serialises ~8,000 breakdowns (issue 14); between
two writes the answer does not change, so each process keeps the last answers keyed by the
version (:func:`cached`). The version is read from the database on every request, never kept
in the process: with several gunicorn workers (or processes on PostgreSQL), a write in one is
seen by all at its commit.

Writes are recognised where every write passes, on the engine (:func:`watch`): any INSERT,
UPDATE or DELETE statement on a watched table, from an ORM flush or a Core statement, bumps
the counter on the same connection, so the bump commits or rolls back with the write. A new
write path therefore needs no call of its own. ``epoch`` is random per database (set when the
row is created) and answers are also keyed by the database's URL, so two databases in one
process (tests, the demo's cities) never share an entry, not even a copy of one database file
(a backup, a test template), which carries its epoch with it.

**Per indicator** (:func:`indicator_writes`, :func:`cached_per_indicator`): a city official
enters one figure, and the next dashboard used to compute every indicator's progress and gaps
again (~175 ms at a million results). A write path that knows which indicators' figures it
writes declares them; inside that declaration a write to the figures' or targets' tables
(:data:`INDICATOR_TABLES`) bumps those indicators' counters (``indicator_versions``) and the
version, but not the *shared* version (``data_version.shared_version``). Every other watched
write, and any write to the figures' tables *outside* a declaration, bumps the shared version
too: a new write path is safe without a call of its own (it only makes every indicator's part
computed again). A part kept per (shared version, its indicator's version) is therefore exact
as long as each declaration names every indicator whose figures it writes; the declarations sit
where the figures are at hand (``node.services.results``, ``node.community.derived``,
``node.services.monitoring.set_target``), and
``tests/web/test_dashboard_parts.py`` holds the parts equal to a fresh computation after
random writes of every kind.
"""

from __future__ import annotations

import gc
import re
import sys
import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import column, event, select, table, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import TextClause

from node import memory

WATCHED_TABLES = frozenset(
    {
        "results",
        "results_latest",
        "results_group_counts",
        "targets",
        "indicators",
        "indicator_dimensions",
        "dimensions",
        "dimension_codes",
    }
)
MAX_ENTRIES = 32  # answers kept per process: a few scopes × indicators; each at most a few MB
MAX_ANSWER_BYTES = 24 * 1024 * 1024  # ... and at most this many bytes of them (size_of)
MAX_PAGE_BYTES = 4 * 1024 * 1024  # rendered fragments: 64 × ~30 kB fit, with room
# The tables of an indicator's own data (its figures, the tables kept from them, its targets):
# a write to them inside indicator_writes bumps the declared indicators' counters instead of
# the shared version.
INDICATOR_TABLES = frozenset({"results", "results_latest", "results_group_counts", "targets"})
MAX_PARTS = 512  # per-indicator parts kept: indicators × audiences × kinds, a few versions each
MAX_PART_BYTES = 24 * 1024 * 1024  # ... and at most this many bytes of them
_DIRTY = "hrcnet_data_version_dirty"
_SCOPE = "hrcnet_data_version_indicators"  # the declared indicators (frozenset), while declared
_BUMPED = "hrcnet_data_version_bumped"  # indicators whose counter this transaction bumped

data_version = table(
    "data_version", column("id"), column("epoch"), column("version"), column("shared_version")
)
indicator_versions = table("indicator_versions", column("indicator_code"), column("version"))
_BUMP = update(data_version).values(version=data_version.c.version + 1)
_BUMP_SHARED = update(data_version).values(
    version=data_version.c.version + 1, shared_version=data_version.c.shared_version + 1
)
_READ = select(data_version.c.epoch, data_version.c.version).where(data_version.c.id == 1)
# One statement, so one snapshot: the shared version and every indicator's counter together.
_READ_PARTS = (
    select(
        data_version.c.epoch,
        data_version.c.shared_version,
        indicator_versions.c.indicator_code,
        indicator_versions.c.version,
    )
    .select_from(data_version.outerjoin(indicator_versions, text("1 = 1")))
    .where(data_version.c.id == 1)
)
# Both SQLite (3.24+) and PostgreSQL read this upsert; ``indicator_versions`` is not watched.
_BUMP_INDICATOR = text(
    "INSERT INTO indicator_versions (indicator_code, version) VALUES (:code, 1) "
    "ON CONFLICT (indicator_code) DO UPDATE SET version = indicator_versions.version + 1"
)
_TEXT_WRITE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)

T = TypeVar("T")


def _written_table(statement: Any) -> str | None:
    if isinstance(statement, UpdateBase):
        return getattr(statement.table, "name", None)
    if isinstance(statement, TextClause):
        match = _TEXT_WRITE.match(statement.text)
        return match.group(1).lower() if match else None
    return None


def _after_execute(
    connection: Connection, statement: Any, _multi: Any, _params: Any, _options: Any, _result: Any
) -> None:
    name = _written_table(statement)
    if name in WATCHED_TABLES:
        # Same connection, same transaction: the bump commits or rolls back with the write.
        # A write to the figures' tables inside a declaration moves the declared indicators'
        # counters (bumped when the declaration began), not the shared version.
        declared = name in INDICATOR_TABLES and connection.info.get(_SCOPE) is not None
        connection.execute(_BUMP if declared else _BUMP_SHARED)
        connection.info[_DIRTY] = True


def _clean(connection: Connection) -> None:
    connection.info.pop(_DIRTY, None)
    connection.info.pop(_BUMPED, None)


def _savepoint_rolled_back(connection: Connection, _name: Any, _context: Any) -> None:
    # The counters bumped inside the savepoint went back with it: bump again when the same
    # transaction declares those indicators later (else its writes would keep a stale part).
    connection.info.pop(_BUMPED, None)


def watch(engine: Engine) -> None:
    """Bump the version on every write to a watched table through ``engine`` (once per
    engine; sessions made by ``node.db.make_sessionmaker`` are watched)."""
    if event.contains(engine, "after_execute", _after_execute):
        return
    event.listen(engine, "after_execute", _after_execute)
    event.listen(engine, "commit", _clean)
    event.listen(engine, "rollback", _clean)
    event.listen(engine, "rollback_savepoint", _savepoint_rolled_back)


@contextmanager
def indicator_writes(session: Session, codes: Iterable[str]) -> Iterator[None]:
    """Declare that the writes to the figures' tables inside this block (and what it leaves
    pending in ``session``) concern the figures of ``codes`` alone.

    Their counters and the version are bumped now, once per transaction (again after a
    savepoint rolled back); the writes inside then leave the shared version alone, so every
    other indicator's kept parts stay valid. Naming too few indicators would serve a stale
    part: declare from the very figures written. Pending ORM changes from before the block are
    flushed first (they are not the block's), and what the block leaves pending is flushed at
    its end (it is).
    """
    session.flush()
    connection = session.connection()
    # The version first: raw driver writes inside (the import's executemany, PostgreSQL's
    # COPY) pass no event, so it moves here whatever the block writes. And first for a reason
    # of locks: its one row is what every writing transaction locks, so writers queue there,
    # before any indicator's row — two transactions can never hold each other's indicator rows
    # (no deadlock, whatever the indicators and however many declarations each makes).
    connection.execute(_BUMP)
    connection.info[_DIRTY] = True
    declared = frozenset(codes)
    bumped: set[str] = connection.info.setdefault(_BUMPED, set())
    fresh = sorted(declared - bumped)
    if fresh:
        connection.execute(_BUMP_INDICATOR, [{"code": code} for code in fresh])
        bumped.update(fresh)
    outer = connection.info.get(_SCOPE)
    connection.info[_SCOPE] = declared if outer is None else outer | declared
    try:
        yield
        session.flush()
    finally:
        if outer is None:
            connection.info.pop(_SCOPE, None)
        else:
            connection.info[_SCOPE] = outer


def part_stamps(session: Session) -> tuple[str, int, dict[str, int]] | None:
    """(epoch, shared version, {indicator: its counter}) in one read; None without a counter
    row. An indicator without a counter row is at 0 (absent from the dict)."""
    rows = session.execute(_READ_PARTS).all()
    if not rows:
        return None
    epoch, shared = rows[0][0], int(rows[0][1])
    return epoch, shared, {code: int(version) for _, _, code, version in rows if code is not None}


def current(session: Session) -> tuple[str, int] | None:
    """The database's (epoch, version), or None when it has no counter row."""
    row = session.execute(_READ).first()
    return None if row is None else (row[0], int(row[1]))


def size_of(value: Any) -> int:
    """Bytes an answer holds, for :class:`_Answers`' bound: exact for ``bytes`` and ``str``
    (an encoded document, rendered HTML), otherwise an estimate summing ``sys.getsizeof`` over
    the objects reachable from it (classes, modules and functions are not counted: they are not
    the answer's own). Each object is counted once, however often it is referenced."""
    if isinstance(value, bytes | str):
        return sys.getsizeof(value)
    seen: set[int] = set()
    todo = [value]
    total = 0
    while todo:
        item = todo.pop()
        if id(item) in seen or isinstance(item, _NOT_OWN):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        todo.extend(gc.get_referents(item))
    return total


_NOT_OWN = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)


class _Answers:
    """A small per-process LRU of answers by (database, (epoch, version), key), bounded both by
    count and by bytes (:func:`size_of`).

    Memory (issue 14): at a million results one answer is megabytes, and a worker keeps its
    answers as long as it lives. So an answer larger than ``max_bytes`` is never kept, the
    least recently used ones go until the total fits, and when an answer of a newer version of
    a database is kept, every answer of its older versions goes at once: no request can ask for
    them again (the version read from the database only moves forward), so keeping them until
    the LRU pushes them out only held their memory.
    """

    def __init__(self, size: int, max_bytes: int) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.total_bytes = 0
        # The newest version seen per (database URL, epoch).
        self.newest: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()
        # One lock per key being computed: the other threads asking for it wait for that answer
        # instead of computing it again at the same time (at 1M results, four threads of a
        # worker computing the full progress at once was four times its memory).
        self.computing: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> Any:
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key][0]
        return None

    def put(self, key: Hashable, value: Any, nbytes: int | None = None) -> bool:
        """Keep ``value`` under ``key`` (a ``(url, (epoch, version), key)`` triple, or any other
        hashable); returns whether it was kept. ``nbytes``: its size if known."""
        nbytes = size_of(value) if nbytes is None else nbytes
        if nbytes > self.max_bytes or self.size < 1:
            return False
        with self.lock:
            scope = _scope(key)
            if scope is not None:
                database, version = scope
                if version < self.newest.get(database, version):
                    return False  # an older version than one already seen: nobody asks again
                if version > self.newest.get(database, version):
                    self._drop(lambda k: (s := _scope(k)) is not None and s[0] == database)
                self.newest[database] = version
            if key in self.entries:
                self.total_bytes -= self.entries.pop(key)[1]
            self.entries[key] = (value, nbytes)
            self.total_bytes += nbytes
            while len(self.entries) > self.size or self.total_bytes > self.max_bytes:
                _key, (_value, dropped) = self.entries.popitem(last=False)
                self.total_bytes -= dropped
            return True

    def _drop(self, condition: Callable[[Hashable], bool]) -> None:
        for key in [k for k in self.entries if condition(k)]:
            self.total_bytes -= self.entries.pop(key)[1]

    def key_lock(self, key: Hashable) -> threading.Lock:
        """The lock that one computation of ``key`` holds (made on first use)."""
        with self.lock:
            return self.computing.setdefault(key, threading.Lock())

    def release_key(self, key: Hashable, lock: threading.Lock) -> None:
        """Forget ``key``'s lock once nobody holds or waits for it (the cache holds the answer,
        or the next caller computes again)."""
        with self.lock:
            if self.computing.get(key) is lock and not lock.locked():
                del self.computing[key]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.total_bytes = 0
            self.newest.clear()


def _scope(key: Hashable) -> tuple[tuple[str, str], int] | None:
    """((database URL, epoch), version) of a :func:`cached` key, None for any other key."""
    if (
        isinstance(key, tuple)
        and len(key) == 3
        and isinstance(key[1], tuple)
        and len(key[1]) == 2
        and isinstance(key[1][1], int)
    ):
        return (key[0], key[1][0]), key[1][1]
    return None


# The bounds: the full-progress document at a million results is ~1.7 MB, an indicator's a
# few tens of kB, a rendered dashboard ~30 kB; the bytes bound is what a worker may keep
# whatever the node's size (two workers: twice that).
ANSWERS = _Answers(MAX_ENTRIES, MAX_ANSWER_BYTES)
# Each indicator's part of a page (its progress row and gaps, per audience), keyed by
# (database, epoch, shared version, indicator, its counter, kind): never by the version, so a
# write to another indicator leaves it valid (cached_per_indicator).
PARTS = _Answers(MAX_PARTS, MAX_PART_BYTES)
# Rendered page fragments (the dashboard's figures, tens of kB each) in an LRU of their own, so
# that the audiences × type filters × languages of one page (48) never push the answers they
# are made from out of ``ANSWERS``.
PAGES = _Answers(64, MAX_PAGE_BYTES)


def cached(
    session: Session, key: Hashable, compute: Callable[[], T], *, answers: _Answers = ANSWERS
) -> T:
    """``compute()``, or the answer it gave at this same data version in this process.

    Treat the answer as read-only: it is shared. Not cached, and not served from the cache,
    when this session's transaction has written watched tables itself (its version is not
    committed and may roll back), when the database has no counter, or when the version
    moved while computing (a commit in between: the answer may mix two versions).
    ``answers`` is the LRU kept in (:data:`ANSWERS`, or :data:`PAGES` for rendered HTML).
    """
    connection = session.connection()
    stamp = None if connection.info.get(_DIRTY) else current(session)
    if stamp is None:
        return compute()
    # The URL as well as the epoch: a copied database file keeps its epoch (and version).
    full_key = (session.get_bind().url.render_as_string(hide_password=True), stamp, key)
    hit = answers.get(full_key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    lock = answers.key_lock(full_key)
    try:
        with lock:
            # Another thread may have computed it while this one waited for the lock.
            hit = answers.get(full_key)
            if hit is not None:
                return hit  # type: ignore[no-any-return]
            value = compute()
            # Computing an answer is the large work of these routes (tens of MB at 1M
            # results): the worker gives the freed memory back once idle (node.memory).
            memory.note_large_work()
            if not connection.info.get(_DIRTY) and current(session) == stamp:
                answers.put(full_key, value)
            return value
    finally:
        answers.release_key(full_key, lock)


def cached_per_indicator(
    session: Session,
    kind: Hashable,
    codes: Sequence[str],
    compute: Callable[[Sequence[str]], dict[str, T]],
) -> dict[str, T]:
    """Each of ``codes``' answer of ``kind``: kept ones when their indicator's counter and the
    shared version have not moved since, the others from ``compute(missing codes)`` (which
    must return an answer for each code it is given).

    The same rules as :func:`cached`: nothing kept nor served when this session's transaction
    wrote watched tables itself, or the database has no counter; answers computed while the
    counters moved (a commit in between) are returned but not kept. Treat answers as read-only.
    """
    connection = session.connection()
    stamps = None if connection.info.get(_DIRTY) else part_stamps(session)
    if stamps is None:
        return compute(codes)
    epoch, shared, versions = stamps
    url = session.get_bind().url.render_as_string(hide_password=True)
    keys = {code: (url, epoch, shared, code, versions.get(code, 0), kind) for code in codes}
    found: dict[str, T] = {}
    missing: list[str] = []
    for code in codes:
        hit = PARTS.get(keys[code])
        if hit is None:
            missing.append(code)
        else:
            found[code] = hit
    if missing:
        computed = compute(missing)
        memory.note_large_work()
        keep = not connection.info.get(_DIRTY) and part_stamps(session) == stamps
        for code in missing:
            found[code] = computed[code]
            if keep:
                PARTS.put(keys[code], computed[code])
    return found
