"""A logging handler that keeps the last records in memory, for the local page's log tail."""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class LogLine:
    ts: datetime
    level: str
    logger: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"ts": self.ts.isoformat(), "level": self.level, "logger": self.logger, "message": self.message}


class RingLogHandler(logging.Handler):
    def __init__(self, capacity: int = 500, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._ring_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                msg += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
            line = LogLine(datetime.fromtimestamp(record.created, UTC), record.levelname, record.name, msg[:2000])
        except Exception:
            self.handleError(record)
            return
        with self._ring_lock:
            self._lines.append(line)

    def tail(self, n: int = 200, level: str | None = None) -> list[LogLine]:
        """The last ``n`` lines, newest first; with ``level`` (``warning``, ``ERROR``, …) only lines at that level
        or worse. An unknown level name raises ValueError."""
        floor = 0
        if level:
            floor = logging.getLevelNamesMapping().get(level.upper(), -1)
            if floor < 0:
                raise ValueError(f"unknown log level {level!r}")
        with self._ring_lock:
            lines = list(self._lines)
        if floor:
            lines = [x for x in lines if logging.getLevelNamesMapping().get(x.level, 0) >= floor]
        return lines[::-1][:n]
