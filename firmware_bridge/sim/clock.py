"""Simulated time: real time multiplied by ``speed``, plus jumps, so a 6-hour charge can run in seconds."""

from __future__ import annotations

import threading
import time


class SimClock:
    """``now()`` is simulated seconds since the clock started.

    ``speed`` 1 runs in real time, 3600 runs an hour a second, 0 freezes time (only :meth:`advance` moves it).
    Thread-safe; share one clock between a pile and its meter so they agree.
    """

    def __init__(self, speed: float = 1.0, start: float = 0.0) -> None:
        if speed < 0:
            raise ValueError(f"clock speed must be >= 0, not {speed}")
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._base_sim = float(start)
        self._base_real = time.monotonic()

    def now(self) -> float:
        with self._lock:
            return self._base_sim + (time.monotonic() - self._base_real) * self._speed

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"clock speed must be >= 0, not {value}")
        with self._lock:
            real = time.monotonic()
            self._base_sim += (real - self._base_real) * self._speed
            self._base_real = real
            self._speed = float(value)

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` of simulated time forward at once."""
        if seconds < 0:
            raise ValueError(f"the clock only goes forward, not by {seconds} s")
        with self._lock:
            self._base_sim += seconds

    def __repr__(self) -> str:
        return f"<SimClock t={self.now():.1f}s speed={self._speed:g}>"
