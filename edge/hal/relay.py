"""GPIO outputs (relays) and inputs through gpiozero.

A :class:`Relay` starts off, and every way out of it (close, fault, shutdown) leaves it off. Pin levels
are the pin factory's business: on a Pi the real driver, in simulation the MockFactory that
:class:`edge.hal.sim.PinBoard` drives from the outside.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import gpiozero
from gpiozero import DigitalInputDevice, DigitalOutputDevice

from edge.hal.config import InputConfig, PinId, RelayConfig
from edge.hal.errors import HalError, PinError
from edge.hal.pins import setup_pin_factory

log = logging.getLogger(__name__)


def _claim(what: str, pin: PinId, make: Callable[[], Any]) -> Any:
    """Create a gpiozero device, turning the driver's errors into a PinError that names the part."""
    setup_pin_factory("auto")
    try:
        return make()
    except (gpiozero.GPIOZeroError, ValueError, OSError) as e:
        raise PinError(f"{what}: cannot use pin {pin!r}: {e}") from e


class Relay:
    """An on/off output. ``is_on`` is the commanded state; ``readback()`` what the relay's contact says."""

    def __init__(self, name: str, cfg: RelayConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._lock = threading.RLock()
        self._on = False
        self._closed = False
        self._timer: threading.Timer | None = None
        self._pulse_until = 0.0
        self._dev: DigitalOutputDevice = _claim(
            f"relay '{name}'",
            cfg.pin,
            lambda: DigitalOutputDevice(cfg.pin, active_high=cfg.active_high, initial_value=False),
        )
        self._readback: DigitalInputDevice | None = None
        if cfg.readback_pin is not None:
            try:
                self._readback = _claim(
                    f"relay '{name}' read-back",
                    cfg.readback_pin,
                    lambda: DigitalInputDevice(cfg.readback_pin, pull_up=not cfg.readback_active_high),
                )
            except PinError:
                self._dev.close()
                raise

    def _check_open(self) -> None:
        if self._closed:
            raise HalError(f"relay '{self.name}' is closed")

    def _cancel_pulse(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pulse_until = 0.0

    def on(self) -> None:
        """Energise the relay and hold it (cancels a running pulse)."""
        with self._lock:
            self._check_open()
            self._cancel_pulse()
            self._dev.on()
            self._on = True

    def off(self) -> None:
        """De-energise the relay. Never fails on a closed relay: closed already means off."""
        with self._lock:
            self._cancel_pulse()
            if self._closed:
                return
            self._dev.off()
            self._on = False

    def pulse(self, seconds: float) -> None:
        """Energise now and de-energise after ``seconds`` without blocking. A pulse during a pulse extends it."""
        if not seconds > 0:
            raise ValueError(f"relay '{self.name}': pulse length must be > 0 s, got {seconds!r}")
        with self._lock:
            self._check_open()
            until = time.monotonic() + seconds
            if self._timer is not None and until <= self._pulse_until:
                return
            if self._timer is not None:
                self._timer.cancel()
            self._dev.on()
            self._on = True
            self._pulse_until = until
            timer = threading.Timer(seconds, self._end_pulse)
            timer.name = f"relay-{self.name}-pulse"
            timer.daemon = True
            self._timer = timer
            timer.start()

    def _end_pulse(self) -> None:
        with self._lock:
            if self._timer is not threading.current_thread():
                return  # superseded by a longer pulse, an on() or an off()
            self._timer = None
            self._pulse_until = 0.0
            if not self._closed:
                self._dev.off()
                self._on = False

    @property
    def is_on(self) -> bool:
        """The commanded state (True = energised)."""
        return self._on

    @property
    def pulsing(self) -> bool:
        """True while a pulse is running (its end is scheduled)."""
        return self._timer is not None

    def readback(self) -> bool | None:
        """Whether the read-back contact reports the relay closed; None without a read-back pin (or closed)."""
        if self._readback is None or self._closed:
            return None
        return bool(self._readback.is_active)

    def readback_mismatch(self) -> bool:
        """True when a read-back pin exists and disagrees with the commanded state."""
        rb = self.readback()
        return rb is not None and rb != self._on

    def close(self) -> None:
        """Drop to off (the safe state) and release the pins. Safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._cancel_pulse()
            try:
                self._dev.off()
            finally:
                self._on = False
                self._closed = True
                self._dev.close()
                if self._readback is not None:
                    self._readback.close()

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "pin": self.cfg.pin, "on": self._on, "readback": self.readback()}

    def __repr__(self) -> str:
        return f"<Relay {self.name!r} pin={self.cfg.pin!r} on={self._on}>"


class Input:
    """A digital input. ``is_active`` is the logical state (after pull-up / active-state inversion)."""

    def __init__(self, name: str, cfg: InputConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._callbacks: list[Callable[[str, bool], None]] = []
        self._cb_lock = threading.Lock()
        self._closed = False
        # gpiozero derives the active level from the pull; a different active_state with a pull resistor
        # (a normally-closed contact) is handled here by inverting its notion of active.
        if cfg.pull_up is None:
            pull_up, active_state, self._invert = None, cfg.active_state, False
        else:
            pull_up, active_state = cfg.pull_up, None
            self._invert = cfg.active_state is not None and cfg.active_state != (not cfg.pull_up)
        bounce = cfg.bounce_ms / 1000 if cfg.bounce_ms > 0 else None
        self._dev: DigitalInputDevice = _claim(
            f"input '{name}'",
            cfg.pin,
            lambda: DigitalInputDevice(cfg.pin, pull_up=pull_up, active_state=active_state, bounce_time=bounce),
        )
        self._dev.when_activated = lambda: self._dispatch(not self._invert)
        self._dev.when_deactivated = lambda: self._dispatch(self._invert)

    def _dispatch(self, active: bool) -> None:
        with self._cb_lock:
            callbacks = list(self._callbacks)
        for cb in callbacks:
            try:
                cb(self.name, active)
            except Exception:
                log.exception("input '%s': change callback %r failed", self.name, cb)

    @property
    def is_active(self) -> bool:
        if self._closed:
            raise HalError(f"input '{self.name}' is closed")
        return bool(self._dev.is_active) != self._invert

    def on_change(self, cb: Callable[[str, bool], None]) -> None:
        """Call ``cb(name, active)`` on every change (from gpiozero's thread). Several callbacks may be added."""
        with self._cb_lock:
            self._callbacks.append(cb)

    def wait_for(self, active: bool, timeout: float) -> bool:
        """Wait until the input is ``active`` (or not); True when reached within ``timeout`` seconds."""
        if self._closed:
            raise HalError(f"input '{self.name}' is closed")
        if active != self._invert:
            return bool(self._dev.wait_for_active(timeout))
        return bool(self._dev.wait_for_inactive(timeout))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._cb_lock:
            self._callbacks.clear()
        self._dev.close()

    def snapshot(self) -> dict[str, Any]:
        active = None if self._closed else self.is_active
        return {"name": self.name, "pin": self.cfg.pin, "active": active}

    def __repr__(self) -> str:
        return f"<Input {self.name!r} pin={self.cfg.pin!r}>"
