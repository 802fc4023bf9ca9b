"""A background loop in a thread, written once: the server's periodic parts (snapshot retention, work-order checks,
the gate's list sync, the charger's settlement acks, taxi dispatch and its simulated fleet) are each a ``step`` and
an interval given to a :class:`LoopWorker`.

The worker calls ``step()`` every ``interval_s`` seconds (a number, or a function read before every wait so that a
changed setting takes effect at once), either straight after ``start()`` (``first="run"``) or after the first wait
(``first="wait"``). ``wake()`` ends the current wait early. An exception from ``step`` is counted and logged with its
traceback, never fatal; ``error_pause_s`` adds a pause after one. ``stop()`` ends the wait at once, lets a running
step finish and joins the thread (up to ``join_s``); start and stop may be called again and in any order.

With several server processes on one PostgreSQL the server gives each worker a ``lease`` (``server.leases``): the
loop then wakes every ``lease.check_s`` to renew or look for the lease, and runs ``step`` only when this process
holds it and the run is due (or ``wake()`` asked for it), so each job runs once per interval across the processes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from server.leases import JobLease

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
        #: set by the server when several processes may share the database (PostgreSQL)
        self.lease: JobLease | None = None

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

    def _wait(self) -> bool:
        """Wait for the next round; True when ``wake()`` ended the wait."""
        wait = _seconds(self.interval_s)
        if self.lease is not None:
            wait = min(wait, self.lease.check_s)
        woken = self._wake.wait(wait)
        self._wake.clear()
        return woken and not self._stop.is_set()

    def _step(self, woken: bool) -> bool:
        """Run ``step`` (under the lease, if any); False when another process has the job."""
        if self.lease is None:
            self.step()
            return True
        with self.lease.turn(_seconds(self.interval_s), force=woken) as mine:
            if mine:
                self.step()
        return mine

    def _run(self) -> None:
        woken = False
        if self.first == "wait":
            woken = self._wait()
        while not self._stop.is_set():
            ran = True
            try:
                ran = self._step(woken)
            except Exception:
                self.errors += 1
                log.exception("%s: step failed; next try in %.1f s", self.name, _seconds(self.interval_s))
                pause = _seconds(self.error_pause_s)
                if pause > 0 and self._stop.wait(pause):
                    break
            finally:
                self.runs += int(ran)
            if self._stop.is_set():
                break
            woken = self._wait()
        if self.lease is not None:
            self.lease.release()
