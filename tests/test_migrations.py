"""Alembic migrations create every table from empty, on SQLite and on PostgreSQL, and go back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from node import migrate
from node.db import Base, make_engine
from node.models import Indicator, Result


def _check_round_trip(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_sqlite(tmp_path: Path) -> None:
    _check_round_trip(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_migrations_postgresql(postgres: object) -> None:
    url = postgres.create_database()  # type: ignore[attr-defined]
    try:
        _check_round_trip(url)
    finally:
        postgres.drop_database(url)  # type: ignore[attr-defined]


def _model_differences(engine: Any) -> list[Any]:
    """What autogenerate finds between the migrated database and the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrate.upgrade(engine)
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def test_models_and_migrations_agree(tmp_path: Path) -> None:
    """A model change without a migration is caught here (autogenerate finds no difference)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        assert _model_differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_models_and_migrations_agree_on_postgresql(postgres: object) -> None:
    """As above on PostgreSQL: the indexes the migrations make are the models' there too."""
    url = postgres.create_database()  # type: ignore[attr-defined]
    engine = make_engine(url)
    try:
        diff = _model_differences(engine)
        # The known differences: on PostgreSQL, migrations 0021 and 0023 keep the rule of two
        # keys by triggers instead of the keys themselves (their check row by row was most of
        # the server's work in the inbox and the import). tests/test_history_integrity.py and
        # tests/federation/test_received_figures_integrity.py hold both databases to the rule.
        keys = [
            (d[1].parent.name, [c.name for c in d[1].columns]) for d in diff if d[0] == "add_fk"
        ]
        assert sorted(keys) == [
            ("received_figures", ["summary_id"]),
            ("result_changes", ["result_id"]),
        ]
        assert [d for d in diff if d[0] != "add_fk"] == []
    finally:
        engine.dispose()
        postgres.drop_database(url)  # type: ignore[attr-defined]


# --- 0022: the results table's indexes (issue 14, seventh round) ------------------------------

# The indexes of ``results`` as each revision leaves them: name → columns (the primary key
# aside). Written from the migrations' rule, not read from the code under test.
INDEXES_0021 = {
    "uq_results_indicator_code_period_disaggregation_key": [
        "indicator_code",
        "period",
        "disaggregation_key",
    ],
    "ix_results_indicator_code": ["indicator_code"],
    "ix_results_period_end": ["period_end"],
    "ix_results_status": ["status"],
    "ix_results_latest": [
        "indicator_code",
        "disaggregation_key",
        "period_end",
        "period_start",
        "status",
        "period",
        "value_text",
    ],
}
INDEXES_0022 = {
    "uq_results_indicator_code_period_disaggregation_key": [
        "indicator_code",
        "period",
        "disaggregation_key",
    ],
    "ix_results_period_end": ["period_end"],
    "ix_results_latest": ["indicator_code", "disaggregation_key", "period_end", "period_start"],
}
# What a write of a figure changes (an import, a correction, change_status): no index may hold
# one of them, or no such update can be heap-only on PostgreSQL.
WRITTEN_BY_A_FIGURE_WRITE = {
    "value_text",
    "status",
    "cases",
    "source",
    "method",
    "note",
    "updated_at",
    "entered_by_id",
}


def _results_indexes(engine: Any) -> dict[str, list[str]]:
    inspector = inspect(engine)
    found = {i["name"]: list(i["column_names"]) for i in inspector.get_indexes("results")}
    for unique in inspector.get_unique_constraints("results"):
        found[unique["name"]] = list(unique["column_names"])
    return found


def _fillfactor(engine: Any) -> str | None:
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as connection:
        options = connection.scalar(
            text("SELECT reloptions FROM pg_class WHERE relname = 'results'")
        )
    return next((o.split("=", 1)[1] for o in options or [] if o.startswith("fillfactor=")), None)


_INDICATOR = {
    "code": "T-01",
    "name": "Test indicator",
    "translations": {},
    "right": "housing",
    "type": "outcome",
    "value_type": "number",
    "unit_code": "PERCENT",
    "unit_label": "%",
    "direction": "good_up",
    "core": False,
    "source_type": [],
    "sdg": [],
    "extra": {},
    "created_at": datetime(2026, 1, 1, tzinfo=UTC),
}


def _figures() -> list[dict[str, Any]]:
    """Figures of three breakdowns over 30 months, every status, a non-ASCII breakdown."""
    rows = []
    for month in range(30):
        year, index = divmod(month, 12)
        start = date(2020 + year, index + 1, 1)
        end = date(2020 + year + (index == 11), (index + 1) % 12 + 1, 1) - timedelta(days=1)
        for key in ("", "SEX=F", "DISTRICT=Zürich"):
            rows.append(
                {
                    "indicator_code": "T-01",
                    "period": f"{start:%Y-%m}",
                    "period_start": start,
                    "period_end": end,
                    "disaggregation_key": key,
                    "disaggregation": {} if not key else dict([key.split("=")]),
                    "value_text": f"{month}.{len(key)}",
                    "status": ("draft", "validated", "published")[month % 3],
                    "source": "register" if month % 2 else None,
                    "entered_at": datetime(2026, 1, 1, tzinfo=UTC),
                    "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
                }
            )
    return rows


def _stored(engine: Any) -> list[tuple[Any, ...]]:
    columns = [Result.__table__.c[name] for name in sorted(_figures()[0])]
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(Result.__table__.c.id, *columns).order_by(Result.__table__.c.id)
            )
        ]


def _check_0022_with_data(engine: Any) -> None:
    migrate.upgrade(engine, "0021")
    with engine.begin() as connection:
        connection.execute(insert(Indicator.__table__), [_INDICATOR])
        connection.execute(insert(Result.__table__), _figures())
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("ANALYZE")  # a node with statistics keeps them
    before = _stored(engine)
    assert len(before) == 90
    assert _results_indexes(engine) == INDEXES_0021
    assert _fillfactor(engine) is None

    migrate.upgrade(engine, "0022")
    assert _stored(engine) == before
    assert _results_indexes(engine) == INDEXES_0022
    indexed = {column for columns in INDEXES_0022.values() for column in columns}
    assert not indexed & WRITTEN_BY_A_FIGURE_WRITE
    if engine.dialect.name == "postgresql":
        assert _fillfactor(engine) == "90"
    else:
        with engine.connect() as connection:
            analysed = set(
                connection.scalars(text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'results'"))
            )
        assert analysed == set(INDEXES_0022) - {
            "uq_results_indicator_code_period_disaggregation_key"
        } | {"sqlite_autoindex_results_1"}
    # The figures are still found by their identity (the unique index refuses a duplicate).
    duplicate = {**_figures()[4], "value_text": "1"}
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert(Result.__table__), [duplicate])

    migrate.downgrade(engine, "0021")
    assert _stored(engine) == before
    assert _results_indexes(engine) == INDEXES_0021
    assert _fillfactor(engine) is None
    migrate.upgrade(engine)
    assert _stored(engine) == before
    assert _results_indexes(engine) == INDEXES_0022


def test_0022_keeps_the_figures_and_goes_back_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'i.db'}")
    try:
        _check_0022_with_data(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_0022_keeps_the_figures_and_goes_back_postgresql(postgres: object) -> None:
    url = postgres.create_database()  # type: ignore[attr-defined]
    engine = make_engine(url)
    try:
        _check_0022_with_data(engine)
    finally:
        engine.dispose()
        postgres.drop_database(url)  # type: ignore[attr-defined]
