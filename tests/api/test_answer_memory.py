"""What a process keeps of its answers per data version is bounded (issue 14, memory).

The rules (``node.data_version``): the answers kept fit in ``max_bytes`` (an answer larger
than that is not kept; the least recently used go until the total fits) and in ``size``
entries; once an answer of a newer version of a database is kept, no answer of its older
versions stays; the threads of a process asking at once for the same missing answer compute it
once. And the dashboard keeps of each breakdown only its status.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from node import data_version
from node.data_version import _Answers, size_of
from node.permissions import OPERATOR
from node.services import monitoring
from node.web.views import _kept_row
from tests.api.test_fast_paths import T0

DB = ("sqlite:///x.db", "epoch")


def _key(version: int, name: str, database: tuple[str, str] = DB) -> tuple[Any, ...]:
    return (database[0], (database[1], version), name)


def _text(nbytes: int) -> bytes:
    """A value whose size (``size_of``) is exactly ``nbytes``."""
    value = b"x" * (nbytes - size_of(b""))
    assert size_of(value) == nbytes
    return value


@pytest.mark.parametrize(("extra", "kept"), [(-1, True), (0, True), (1, False)])
def test_an_answer_is_kept_only_up_to_the_bytes_bound(extra: int, kept: bool) -> None:
    answers = _Answers(32, 10_000)
    assert answers.put(_key(1, "a"), _text(10_000 + extra)) is kept
    assert (answers.get(_key(1, "a")) is not None) is kept
    assert answers.total_bytes == (10_000 + extra if kept else 0)


@pytest.mark.parametrize(("third", "first_kept"), [(3_999, True), (4_000, True), (4_001, False)])
def test_the_least_recently_used_go_until_the_total_fits(third: int, first_kept: bool) -> None:
    answers = _Answers(32, 10_000)
    answers.put(_key(1, "a"), _text(3_000))
    answers.put(_key(1, "b"), _text(3_000))
    assert answers.get(_key(1, "a")) is not None  # "a" used last: "b" is the oldest now
    answers.put(_key(1, "c"), _text(third))  # 6,000 + third against 10,000
    assert (answers.get(_key(1, "b")) is not None) is first_kept
    assert answers.get(_key(1, "a")) is not None
    assert answers.get(_key(1, "c")) is not None
    assert answers.total_bytes <= 10_000
    assert answers.total_bytes == sum(n for _v, n in answers.entries.values())


def test_the_count_bound_still_holds() -> None:
    answers = _Answers(2, 10_000)
    for name in "abc":
        answers.put(_key(1, name), _text(100))
    assert [k[2] for k in answers.entries] == ["b", "c"]
    assert answers.total_bytes == 2 * size_of(_text(100))


def test_a_newer_version_drops_every_answer_of_the_older_ones_of_that_database() -> None:
    answers = _Answers(32, 1_000_000)
    other = ("sqlite:///y.db", "epoch")
    answers.put(_key(1, "a"), _text(100))
    answers.put(_key(1, "b"), _text(100))
    answers.put(_key(7, "a", other), _text(100))
    answers.put(_key(2, "a"), _text(100))
    assert set(answers.entries) == {_key(2, "a"), _key(7, "a", other)}
    assert answers.total_bytes == 2 * size_of(_text(100))
    # A reader still on an older snapshot: its answer is not kept (nobody asks for it again).
    assert answers.put(_key(1, "b"), _text(100)) is False
    assert set(answers.entries) == {_key(2, "a"), _key(7, "a", other)}


def test_size_of_counts_what_an_answer_holds_once() -> None:
    shared = {"status": "on_track"}
    few = [shared] * 10
    many = [shared] * 10_000
    assert size_of(many) - size_of(few) == size_of([None] * 10_000) - size_of([None] * 10)
    assert size_of([{"value": Decimal("1.5")}]) > size_of([{}])


def test_concurrent_askers_of_one_missing_answer_compute_it_once(
    app: Flask, db: Callable[[], Any]
) -> None:
    data_version.ANSWERS.clear()
    calls: list[int] = []
    inside = threading.Event()
    release = threading.Event()
    answers: list[Any] = []

    def compute() -> list[str]:
        calls.append(1)
        inside.set()
        assert release.wait(30)
        return ["the answer"]

    def ask() -> None:
        with db() as session:
            answers.append(data_version.cached(session, ("test.single", 1), compute))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    threads[0].start()
    assert inside.wait(30)  # the first one computes...
    for thread in threads[1:]:
        thread.start()  # ... while three more ask for the same answer
    release.set()
    for thread in threads:
        thread.join(30)
    assert calls == [1]
    assert answers == [["the answer"]] * 4
    assert data_version.ANSWERS.computing == {}


def test_an_answer_of_an_older_version_is_dropped_at_the_write(
    app: Flask, db: Callable[[], Any]
) -> None:
    data_version.ANSWERS.clear()
    with db() as session:
        data_version.cached(session, ("test.old", 1), lambda: ["before"])
    with db() as session:
        monitoring.set_target(
            session,
            {
                "indicator": "HRC-HOU-01",
                "disaggregation": {},
                "baseline": {"period": "2020", "value": Decimal(10)},
                "target": {"period": "2030", "value": Decimal(5)},
            },
            user=OPERATOR,
            now=T0,
        )
    with db() as session:
        assert data_version.cached(session, ("test.new", 1), lambda: ["after"]) == ["after"]
    assert [key[2] for key in data_version.ANSWERS.entries] == [("test.new", 1)]


def test_the_dashboard_keeps_a_status_per_breakdown_and_nothing_else() -> None:
    breakdowns = [
        {"disaggregation": {"D": str(i)}, "status": ("off_track", "on_track")[i % 2], "x": i}
        for i in range(8_000)
    ]
    row = {"indicator": "A", "status": "off_track", "breakdowns": breakdowns}
    kept = _kept_row(row)
    assert len(kept["breakdowns"]) == 8_000
    assert [b["status"] for b in kept["breakdowns"]] == [b["status"] for b in breakdowns]
    assert all(b == {"status": b["status"]} for b in kept["breakdowns"])
    assert {k: v for k, v in kept.items() if k != "breakdowns"} == {
        k: v for k, v in row.items() if k != "breakdowns"
    }
    assert row["breakdowns"] is breakdowns and len(breakdowns[0]) == 3  # the input untouched
    assert size_of(kept) < size_of(row) / 10
    assert size_of(kept) < 100_000
