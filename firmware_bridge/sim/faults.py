"""Line faults every simulated device can be told to produce: the same scenario calls on the pile MCU and on
both meter simulators, so a test reads the same whichever device it breaks."""

from __future__ import annotations

import threading


class LineFaults:
    """Mixin: silence, dropped requests, corrupted answers and garbage before an answer.

    The simulator calls :meth:`_init_faults` in its ``__init__`` (after creating ``self._lock``) and consumes the
    counters in its request/answer path."""

    _lock: threading.Lock | threading.RLock

    def _init_faults(self) -> None:
        self._silent = False
        self._drop_next = 0
        self._corrupt_next = 0
        self._garbage_next = 0

    def go_silent(self) -> None:
        """The device hangs: it ignores every request and sends nothing until :meth:`resume`."""
        with self._lock:
            self._silent = True

    def resume(self) -> None:
        with self._lock:
            self._silent = False

    def drop_next(self, count: int = 1) -> None:
        """Ignore the next ``count`` requests (the host times out and retries)."""
        with self._lock:
            self._drop_next += count

    def corrupt_next(self, count: int = 1) -> None:
        """Break the checksum/CRC of the next ``count`` frames the device sends."""
        with self._lock:
            self._corrupt_next += count

    def garbage_before_next(self, n: int = 16) -> None:
        """Put ``n`` random bytes in front of the next answer (line noise)."""
        with self._lock:
            self._garbage_next = n
