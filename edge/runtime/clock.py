"""Time as the agent sees it: one object, so that a simulation or a test can replace it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock time in UTC (for timestamps) and a monotonic clock (for intervals and timeouts)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


SYSTEM_CLOCK = Clock()
