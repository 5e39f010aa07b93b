"""Alembic migrations create every table from empty, on SQLite and on PostgreSQL, and go back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from node import migrate
from node.db import Base, make_engine


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


def test_models_and_migrations_agree(tmp_path: Path) -> None:
    """A model change without a migration is caught here (autogenerate finds no difference)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
