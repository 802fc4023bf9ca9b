"""Stuck-loop detection.

Each loop of an app calls ``kick("<loop>")`` (the first kick starts watching it; ``unwatch`` ends it). When a
watched loop has not kicked for its timeout, the watchdog calls ``on_trip(loop, stale_s)`` once — the agent
then drops every relay to its safe state and raises an alarm event — and keeps the relays safe at every
check until the loop kicks again (``on_recover``).

Under systemd (``NOTIFY_SOCKET`` set) it also sends ``READY=1`` and, while every loop is alive, ``WATCHDOG=1``:
with ``WatchdogSec=`` in the unit a hung process is killed and restarted (its GPIO pins are released, and the
relays are wired normally-open, so they drop).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


def sd_notify(message: str) -> bool:
    """Send a sd_notify(3) datagram when run under systemd; False when not (or when it fails)."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            s.sendall(message.encode())
        return True
    except OSError:
        return False


@dataclass
class _Loop:
    timeout_s: float
    last: float
    tripped: bool = False


class Watchdog:
    def __init__(self, timeout_s: float, on_trip: Callable[[str, float], None],
                 on_recover: Callable[[str], None] | None = None, keep_safe: Callable[[], None] | None = None,
                 enabled: bool = True, systemd: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self.on_trip = on_trip
        self.on_recover = on_recover
        self.keep_safe = keep_safe
        self.enabled = enabled
        self.systemd = systemd
        self._clock = clock
        self._loops: dict[str, _Loop] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.trips = 0

    # ------------------------------------------------------------------ for the app
    def watch(self, name: str, timeout_s: float | None = None) -> None:
        """Start watching ``name`` (counts as a kick). ``timeout_s`` overrides the default for this loop."""
        with self._lock:
            self._loops[name] = _Loop(timeout_s or self.timeout_s, self._clock())

    def kick(self, name: str = "main") -> None:
        """The loop ``name`` is alive."""
        recovered = False
        with self._lock:
            loop = self._loops.get(name)
            if loop is None:
                self._loops[name] = _Loop(self.timeout_s, self._clock())
                return
            loop.last = self._clock()
            if loop.tripped:
                loop.tripped = False
                recovered = True
        if recovered:
            log.warning("watchdog: loop '%s' is alive again", name)
            if self.on_recover is not None:
                try:
                    self.on_recover(name)
                except Exception:
                    log.exception("watchdog recover handler failed")

    def unwatch(self, name: str) -> None:
        """Stop watching ``name`` (a loop that ends on purpose)."""
        with self._lock:
            self._loops.pop(name, None)

    # ------------------------------------------------------------------ state
    @property
    def tripped(self) -> bool:
        with self._lock:
            return any(loop.tripped for loop in self._loops.values())

    def status(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        with self._lock:
            return {n: {"age_s": round(now - loop.last, 2), "timeout_s": loop.timeout_s, "tripped": loop.tripped}
                    for n, loop in self._loops.items()}

    # ------------------------------------------------------------------ monitor
    def start(self) -> None:
        if self.systemd:
            sd_notify("READY=1")
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.systemd:
            sd_notify("STOPPING=1")
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(2.0)

    def check(self) -> list[str]:
        """One check; returns the loops that tripped now."""
        if not self.enabled:
            return []
        now = self._clock()
        newly: list[tuple[str, float]] = []
        any_tripped = False
        with self._lock:
            for name, loop in self._loops.items():
                stale = now - loop.last
                if stale > loop.timeout_s and not loop.tripped:
                    loop.tripped = True
                    newly.append((name, stale))
                any_tripped = any_tripped or loop.tripped
        for name, stale in newly:
            self.trips += 1
            log.critical("watchdog: loop '%s' is stuck (no kick for %.1f s): relays to safe", name, stale)
            try:
                self.on_trip(name, stale)
            except Exception:
                log.exception("watchdog trip handler failed")
        if any_tripped and not newly and self.keep_safe is not None:
            try:
                self.keep_safe()  # hold the safe state while a loop is stuck
            except Exception:
                log.exception("watchdog keep-safe failed")
        if self.systemd and not any_tripped:
            sd_notify("WATCHDOG=1")
        return [n for n, _ in newly]

    def _interval(self) -> float:
        with self._lock:
            shortest = min((loop.timeout_s for loop in self._loops.values()), default=self.timeout_s)
        return max(0.02, min(shortest / 4, 1.0))

    def _run(self) -> None:
        while not self._stop.wait(self._interval()):
            self.check()
