"""Delivery backoff: 1 minute doubling to 6 hours, jitter 0.8-1.4, unavailable after 7 days."""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.backoff import (
    FIRST_BACKOFF_S,
    MAX_BACKOFF_S,
    backoff_delay,
    is_unavailable,
    jittered,
)


@pytest.mark.parametrize(
    ("failures", "base"),
    [(1, 60), (2, 120), (3, 240), (9, 15360), (10, 6 * 3600), (50, 6 * 3600), (10_000, 6 * 3600)],
)
def test_doubling_with_a_cap(failures: int, base: float) -> None:
    for seed in range(20):
        delay = backoff_delay(failures, Random(seed))
        assert 0.8 * base <= delay <= min(1.4 * base, MAX_BACKOFF_S)


@given(st.integers(min_value=1, max_value=10**6), st.integers(0, 2**32))
def test_delay_always_within_bounds(failures: int, seed: int) -> None:
    delay = backoff_delay(failures, Random(seed))
    assert FIRST_BACKOFF_S * 0.8 <= delay <= MAX_BACKOFF_S


def test_no_failure_no_wait_and_jitter_spreads() -> None:
    assert backoff_delay(0, Random(1)) == 0
    values = {round(jittered(10.0, Random(seed)), 3) for seed in range(50)}
    assert len(values) > 40 and min(values) >= 8 and max(values) <= 14


def test_unavailable_after_seven_days() -> None:
    assert not is_unavailable(7 * 86400 - 1)
    assert is_unavailable(7 * 86400)
