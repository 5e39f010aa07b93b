"""Small classes shared by fixtures and tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta


class Clock:
    """A settable clock for services and jobs (``node.runtime.NodeRuntime.clock``)."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@dataclass
class Caller:
    email: str
    role: str
    token: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# --- Hypothesis budgets ---------------------------------------------------------------------
# `make mutate` runs the tests once per mutant: hundreds of random examples per property test
# would make a module take hours. scripts/mutate.py sets HYPOTHESIS_PROFILE=mutate, which
# tests/conftest.py loads (few examples, derandomised, no example database, so a mutant's
# verdict does not depend on an earlier run). A test's own ``@settings(max_examples=N)`` would
# override the profile, so property tests ask ``examples(N)`` for their budget instead.
MUTATE_PROFILE = "mutate"
MUTATE_MAX_EXAMPLES = 25


def examples(wanted: int) -> int:
    """``wanted`` examples normally; at most MUTATE_MAX_EXAMPLES under the mutation profile."""
    if os.environ.get("HYPOTHESIS_PROFILE") == MUTATE_PROFILE:
        return min(wanted, MUTATE_MAX_EXAMPLES)
    return wanted
