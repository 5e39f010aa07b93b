"""``hrcnet import`` is all-or-nothing, checked as a real process against a real node.

The rule (``docs/cli.md``): "any bad row prints every problem (row, column, message) and
imports nothing". After each refusal the node's results table is read back and must be empty —
so storing the good rows of a bad file cannot pass — and a refused role changes nothing either.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.cli.test_cli import INIT, run

HEADER = "indicator,period,value,status,SEX\n"
GOOD_ROWS = "HRC-HOU-01,2024,12.50,published,\nHRC-HOU-01,2024,13.25,published,F\n"


@pytest.fixture(scope="module")
def fresh_node(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    target = tmp_path_factory.mktemp("cli-import") / "padova"
    result = run("init", str(target), *INIT)
    assert result.returncode == 0, result.stderr
    for email, role in (
        ("collector@padova.example", "data_collector"),
        ("v@padova.example", "viewer"),
    ):
        added = run(
            "user", "add", str(target), "--email", email, "--role", role,
            stdin="a long enough password\n",  # passes the password policy
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    return target


def stored_results(node_dir: Path) -> list[tuple[str, str, str, str]]:
    """Every result row in the node's database, whatever its status (the listing)."""
    from node.config import load_config
    from node.db import make_engine, make_sessionmaker, session_scope
    from node.models import Result

    engine = make_engine(load_config(node_dir).database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            rows = session.execute(
                select(Result.indicator_code, Result.period, Result.value_text, Result.status)
            ).all()
            assert session.scalar(select(func.count()).select_from(Result)) == len(rows)
            return sorted(tuple(r) for r in rows)  # type: ignore[misc]
    finally:
        engine.dispose()


def exported_count(node_dir: Path) -> str:
    exported = run("export", str(node_dir), "--format", "json")
    assert exported.returncode == 0, exported.stderr
    return exported.stdout


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (HEADER + GOOD_ROWS + "HRC-NOPE,2024,1,published,\n", ['"row": 4', "HRC-NOPE"]),
        (HEADER + "HRC-HOU-01,20x4,1,published,M\n" + GOOD_ROWS, ['"row": 2', '"period"']),
        (HEADER + GOOD_ROWS + "HRC-CSO-01,2024,6,published,\n", ['"row": 4', "1 and 5"]),
    ],
    ids=["unknown-indicator-last", "bad-period-first", "ordinal-out-of-scale"],
)
def test_a_bad_row_imports_nothing(
    fresh_node: Path, tmp_path: Path, text: str, named: list[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(text, encoding="utf-8")
    refused = run("import", str(fresh_node), str(bad))
    assert refused.returncode == 1, refused.stdout
    assert "nothing was imported" in refused.stderr
    assert all(word in refused.stderr for word in named), refused.stderr
    assert "Imported" not in refused.stdout
    assert stored_results(fresh_node) == []


@pytest.mark.parametrize(
    ("email", "text", "says"),
    [
        # A collector may enter drafts only: one validated row refuses the whole file.
        (
            "collector@padova.example",
            HEADER + "HRC-HOU-01,2024,12.50,draft,\nHRC-HOU-01,2024,13.25,validated,F\n",
            "nothing was imported",
        ),
        ("v@padova.example", HEADER + GOOD_ROWS, "may not"),  # a viewer writes nothing
    ],
    ids=["collector-validated-row", "viewer"],
)
def test_a_refused_user_imports_nothing(
    fresh_node: Path, tmp_path: Path, email: str, text: str, says: str
) -> None:
    source = tmp_path / "figures.csv"
    source.write_text(text, encoding="utf-8")
    refused = run("import", str(fresh_node), str(source), "--as", email)
    assert refused.returncode == 1, refused.stdout
    assert says in refused.stderr
    assert stored_results(fresh_node) == []


def test_the_good_rows_alone_are_imported_whole(fresh_node: Path, tmp_path: Path) -> None:
    """Last in this module (it fills the shared node): proves the checks above can see rows."""
    good = tmp_path / "good.csv"
    good.write_text(HEADER + GOOD_ROWS, encoding="utf-8")
    imported = run("import", str(fresh_node), str(good))
    assert imported.returncode == 0, imported.stderr
    assert "Imported 2 results" in imported.stdout
    assert stored_results(fresh_node) == [
        ("HRC-HOU-01", "2024", "12.50", "published"),
        ("HRC-HOU-01", "2024", "13.25", "published"),
    ]
    assert '"count": 2' in exported_count(fresh_node)


def test_importing_again_says_what_happened_and_a_change_needs_a_reason(
    fresh_node: Path, tmp_path: Path
) -> None:
    """After the module's good import (above): the same file is "unchanged"; a file changing a
    published figure is refused without --reason (nothing written), kept with one (issue 15)."""
    if not stored_results(fresh_node):  # run alone: fill the node as the test above does
        (tmp_path / "good.csv").write_text(HEADER + GOOD_ROWS, encoding="utf-8")
        assert run("import", str(fresh_node), str(tmp_path / "good.csv")).returncode == 0
    same = tmp_path / "same.csv"
    same.write_text(HEADER + GOOD_ROWS, encoding="utf-8")
    again = run("import", str(fresh_node), str(same))
    assert again.returncode == 0, again.stderr
    assert "0 new, 0 changed, 2 unchanged" in again.stdout
    changed = tmp_path / "changed.csv"
    changed.write_text(HEADER + GOOD_ROWS.replace("12.50", "12.75"), encoding="utf-8")
    refused = run("import", str(fresh_node), str(changed))
    assert refused.returncode == 1
    assert "give a reason" in refused.stderr and '"code": "reason_required"' in refused.stderr
    assert ("HRC-HOU-01", "2024", "12.50", "published") in stored_results(fresh_node)
    kept = run("import", str(fresh_node), str(changed), "--reason", "revised by the office")
    assert kept.returncode == 0, kept.stderr
    assert "0 new, 1 changed, 1 unchanged" in kept.stdout
    assert ("HRC-HOU-01", "2024", "12.75", "published") in stored_results(fresh_node)
