"""A worker gives memory back only when idle and only after something large (``node.memory``).

The rules (module docstring of node/memory.py): a release (gc + glibc ``malloc_trim``) when no
request is in flight, none ended for ``idle_seconds``, and since the last release a response of
``large_bytes`` or more was sent or large work was noted; a worker is replaced once idle for
``recycle_idle_seconds`` when its private memory grew by ``growth_bytes`` or more since its
fork. The clock, the release and the measure are the test's own, so each edge is exact.
"""

from __future__ import annotations

import sys
import threading

import pytest

from node import memory

LARGE = 1000
IDLE = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _reclaimer(clock: Clock, released: list[int], **kwargs: object) -> memory.Reclaimer:
    return memory.Reclaimer(
        large_bytes=LARGE,
        idle_seconds=IDLE,
        clock=clock,
        release=lambda: released.append(1),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("sent", "released"), [(LARGE - 1, 0), (LARGE, 1), (LARGE + 1, 1)])
def test_a_release_follows_only_a_large_response(sent: int, released: int) -> None:
    clock, calls = Clock(), []
    reclaimer = _reclaimer(clock, calls)
    reclaimer.request_started()
    reclaimer.request_finished(sent)
    clock.now += IDLE
    assert reclaimer.release_if_due() is bool(released)
    assert len(calls) == released
    clock.now += 10 * IDLE
    assert not reclaimer.release_if_due()  # once per large thing, not again while idle
    assert len(calls) == released


@pytest.mark.parametrize(("idle", "released"), [(IDLE - 0.01, 0), (IDLE, 1), (IDLE + 0.01, 1)])
def test_a_release_waits_for_the_idle_time(idle: float, released: int) -> None:
    clock, calls = Clock(), []
    reclaimer = _reclaimer(clock, calls)
    reclaimer.request_started()
    reclaimer.request_finished(LARGE)
    clock.now += idle
    assert reclaimer.release_if_due() is bool(released)
    assert len(calls) == released


def test_never_while_a_request_is_in_flight() -> None:
    clock, calls = Clock(), []
    reclaimer = _reclaimer(clock, calls)
    reclaimer.request_started()
    reclaimer.request_started()
    reclaimer.request_finished(LARGE)  # one large response ended, another request still runs
    clock.now += 100 * IDLE
    assert not reclaimer.release_if_due()
    reclaimer.request_finished(10)
    assert not reclaimer.release_if_due()  # that one just ended: idle from now
    clock.now += IDLE
    assert reclaimer.release_if_due()
    assert calls == [1]


def test_large_work_counts_whatever_was_sent() -> None:
    clock, calls = Clock(), []
    reclaimer = _reclaimer(clock, calls)
    reclaimer.request_started()
    reclaimer.note_large_work()  # e.g. an answer computed for the cache, a small page sent
    reclaimer.request_finished(10)
    clock.now += IDLE
    assert reclaimer.release_if_due()
    assert calls == [1]


def test_nothing_large_nothing_released() -> None:
    clock, calls = Clock(), []
    reclaimer = _reclaimer(clock, calls)
    for _ in range(50):
        reclaimer.request_started()
        reclaimer.request_finished(LARGE - 1)
    clock.now += 1000 * IDLE
    assert not reclaimer.release_if_due()
    assert calls == []


GROWTH = 5000
RECYCLE_IDLE = 30.0


def _recycling(clock: Clock, private: list[int], recycled: list[int]) -> memory.Reclaimer:
    reclaimer = _reclaimer(clock, [], measure=lambda: private[0], growth_bytes=GROWTH)
    reclaimer.reset(recycle=lambda: recycled.append(1), recycle_idle_seconds=RECYCLE_IDLE)
    return reclaimer


@pytest.mark.parametrize(("grown", "recycled"), [(GROWTH - 1, 0), (GROWTH, 1), (GROWTH + 1, 1)])
def test_a_worker_is_replaced_only_when_it_grew_enough(grown: int, recycled: int) -> None:
    clock, private, calls = Clock(), [10_000], []
    reclaimer = _recycling(clock, private, calls)
    reclaimer.request_started()  # baseline: 10,000 bytes at its first request
    private[0] += grown
    reclaimer.request_finished(10)
    clock.now += RECYCLE_IDLE
    assert reclaimer.recycle_if_due() is bool(recycled)
    assert len(calls) == recycled
    clock.now += RECYCLE_IDLE
    assert not reclaimer.recycle_if_due()  # once (on its way out), or not before a new request
    assert len(calls) == recycled


@pytest.mark.parametrize(
    ("idle", "recycled"),
    [(RECYCLE_IDLE - 0.01, 0), (RECYCLE_IDLE, 1), (RECYCLE_IDLE + 0.01, 1)],
)
def test_a_worker_is_replaced_only_after_the_idle_time(idle: float, recycled: int) -> None:
    clock, private, calls = Clock(), [10_000], []
    reclaimer = _recycling(clock, private, calls)
    reclaimer.request_started()
    private[0] += 10 * GROWTH
    reclaimer.request_finished(10)
    clock.now += idle
    assert reclaimer.recycle_if_due() is bool(recycled)
    assert len(calls) == recycled


def test_a_worker_that_served_nothing_is_never_replaced() -> None:
    # Its start-up after the fork (gunicorn's threads and poller) is not a load: replacing it
    # would only start the same again, over and over on an idle node.
    clock, private, calls = Clock(), [10_000], []
    reclaimer = _recycling(clock, private, calls)
    private[0] += 10 * GROWTH
    clock.now += 100 * RECYCLE_IDLE
    assert not reclaimer.recycle_if_due()
    assert calls == []


def test_a_worker_in_use_or_without_recycling_is_never_replaced() -> None:
    clock, private, calls = Clock(), [10_000], []
    reclaimer = _recycling(clock, private, calls)
    reclaimer.request_started()  # a long request: never replaced under it
    private[0] += 10 * GROWTH
    clock.now += 100 * RECYCLE_IDLE
    assert not reclaimer.recycle_if_due()
    reclaimer.reset(recycle=lambda: calls.append(1), recycle_idle_seconds=0)  # 0: never
    private[0] += 10 * GROWTH
    clock.now += 100 * RECYCLE_IDLE
    assert not reclaimer.recycle_if_due()
    assert calls == []


def test_the_growth_is_measured_again_after_new_requests() -> None:
    clock, private, calls = Clock(), [10_000], []
    reclaimer = _recycling(clock, private, calls)
    reclaimer.request_started()
    reclaimer.request_finished(10)
    clock.now += RECYCLE_IDLE
    assert not reclaimer.recycle_if_due()  # not grown: kept
    reclaimer.request_started()  # a load comes later
    private[0] += GROWTH
    reclaimer.request_finished(10)
    clock.now += RECYCLE_IDLE
    assert reclaimer.recycle_if_due()
    assert calls == [1]


def test_the_watch_thread_releases_and_stops() -> None:
    released = threading.Event()
    reclaimer = memory.Reclaimer(large_bytes=LARGE, idle_seconds=0, release=released.set)
    reclaimer.note_large_work()
    stop = threading.Event()
    thread = threading.Thread(target=reclaimer.watch, args=(stop, 0.01))
    thread.start()
    try:
        assert released.wait(10)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_release_runs_malloc_trim_on_glibc_and_is_a_no_op_elsewhere() -> None:
    # This machine's Linux with glibc has it; elsewhere the call only collects garbage.
    has_glibc = sys.platform.startswith("linux") and memory._MALLOC_TRIM is not None
    assert memory.release_free_memory() is has_glibc
    if sys.platform.startswith("linux"):
        assert memory.private_bytes() > 0
