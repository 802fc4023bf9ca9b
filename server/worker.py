"""A background loop in a thread, written once: the server's periodic parts (snapshot retention, work-order checks,
the gate's list sync, the charger's settlement acks, taxi dispatch and its simulated fleet) are each a ``step`` and
an interval given to a :class:`LoopWorker`.

The worker calls ``step()`` every ``interval_s`` seconds (a number, or a function read before every wait so that a
changed setting takes effect at once), either straight after ``start()`` (``first="run"``) or after the first wait
(``first="wait"``). ``wake()`` ends the current wait early. An exception from ``step`` is counted and logged with its
traceback, never fatal; ``error_pause_s`` adds a pause after one. ``stop()`` ends the wait at once, lets a running
step finish and joins the thread (up to ``join_s``); start and stop may be called again and in any order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Literal

log = logging.getLogger(__name__)

Seconds = float | Callable[[], float]


def _seconds(value: Seconds) -> float:
    return float(value() if callable(value) else value)


class LoopWorker:
    def __init__(self, name: str, step: Callable[[], object], interval_s: Seconds, *,
                 first: Literal["run", "wait"] = "run", error_pause_s: Seconds = 0.0, join_s: float = 5.0) -> None:
        self.name = name
        self.step = step
        self.interval_s = interval_s
        self.first = first
        self.error_pause_s = error_pause_s
        self.join_s = join_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.runs = 0
        self.errors = 0

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        """Start the thread (nothing happens when it is already running)."""
        with self._lock:
            if self.alive:
                return
            self._stop.clear()
            self._wake.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end, wake it and wait for it (a running step is let finish, up to ``join_s``)."""
        with self._lock:
            self._stop.set()
            self._wake.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.join_s)
            if thread.is_alive():
                log.warning("%s did not stop within %.0f s", self.name, self.join_s)

    def wake(self) -> None:
        """Run the next step now instead of at the end of the wait."""
        self._wake.set()

    def sleep(self, seconds: float) -> bool:
        """Wait up to ``seconds`` inside a step, ended early by ``stop()``. True when the worker is stopping."""
        return self._stop.wait(seconds)

    def _wait(self) -> None:
        self._wake.wait(_seconds(self.interval_s))
        self._wake.clear()

    def _run(self) -> None:
        if self.first == "wait":
            self._wait()
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:
                self.errors += 1
                log.exception("%s: step failed; next try in %.1f s", self.name, _seconds(self.interval_s))
                pause = _seconds(self.error_pause_s)
                if pause > 0 and self._stop.wait(pause):
                    break
            finally:
                self.runs += 1
            if self._stop.is_set():
                break
            self._wait()
