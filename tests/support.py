"""Small classes shared by fixtures and tests."""

from __future__ import annotations

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
