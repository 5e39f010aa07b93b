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
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import column, event, select, table, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import TextClause

WATCHED_TABLES = frozenset(
    {
        "results",
        "results_latest",
        "targets",
        "indicators",
        "indicator_dimensions",
        "dimensions",
        "dimension_codes",
    }
)
MAX_ENTRIES = 32  # answers kept per process: a few scopes × indicators; each at most a few MB
_DIRTY = "hrcnet_data_version_dirty"

data_version = table("data_version", column("id"), column("epoch"), column("version"))
_BUMP = update(data_version).values(version=data_version.c.version + 1)
_READ = select(data_version.c.epoch, data_version.c.version).where(data_version.c.id == 1)
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
    if _written_table(statement) in WATCHED_TABLES:
        # Same connection, same transaction: the bump commits or rolls back with the write.
        connection.execute(_BUMP)
        connection.info[_DIRTY] = True


def _clean(connection: Connection) -> None:
    connection.info.pop(_DIRTY, None)


def watch(engine: Engine) -> None:
    """Bump the version on every write to a watched table through ``engine`` (once per
    engine; sessions made by ``node.db.make_sessionmaker`` are watched)."""
    if event.contains(engine, "after_execute", _after_execute):
        return
    event.listen(engine, "after_execute", _after_execute)
    event.listen(engine, "commit", _clean)
    event.listen(engine, "rollback", _clean)


def current(session: Session) -> tuple[str, int] | None:
    """The database's (epoch, version), or None when it has no counter row."""
    row = session.execute(_READ).first()
    return None if row is None else (row[0], int(row[1]))


class _Answers:
    """A small per-process LRU of answers by (epoch, version, key)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


ANSWERS = _Answers(MAX_ENTRIES)
# Rendered page fragments (the dashboard's figures, tens of kB each) in an LRU of their own, so
# that the audiences × type filters × languages of one page (48) never push the answers they
# are made from out of ``ANSWERS``.
PAGES = _Answers(64)


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
    value = compute()
    if not connection.info.get(_DIRTY) and current(session) == stamp:
        answers.put(full_key, value)
    return value
