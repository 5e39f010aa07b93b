"""Retry timing for deliveries between nodes (pure functions; the caller supplies randomness).

Quick retries (0.5 s, 1 s, 2 s) absorb a blip within one delivery run; after that a destination
backs off from 1 minute, doubling to a 6-hour cap. The cap is softer than Matrix's week on
purpose: a small twinned network must not lose a partner for days after a weekend outage.
Jitter (×0.8-1.4) keeps many nodes from retrying a recovering peer in lockstep.
"""

from __future__ import annotations

from random import Random

QUICK_RETRY_DELAYS_S = (0.5, 1.0, 2.0)
FIRST_BACKOFF_S = 60.0
MAX_BACKOFF_S = 6 * 3600.0
JITTER = (0.8, 1.4)
UNAVAILABLE_AFTER_S = 7 * 24 * 3600.0


def jittered(delay_s: float, rng: Random) -> float:
    """``delay_s`` scaled by a random factor in [0.8, 1.4]."""
    return delay_s * rng.uniform(*JITTER)


def backoff_delay(failures: int, rng: Random) -> float:
    """Seconds to wait after ``failures`` consecutive failed delivery runs (≥ 1)."""
    if failures < 1:
        return 0.0
    base = min(FIRST_BACKOFF_S * 2 ** min(failures - 1, 30), MAX_BACKOFF_S)
    return min(jittered(base, rng), MAX_BACKOFF_S)  # the 6-hour cap holds, jitter included


def is_unavailable(failing_for_s: float) -> bool:
    """A destination failing continuously for 7 days is shown as unavailable."""
    return failing_for_s >= UNAVAILABLE_AFTER_S
