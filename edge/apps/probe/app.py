"""The probe: reports its button, pulses or sets its relay on command, and watches over its own hold time."""

from __future__ import annotations

import threading
import time
from typing import Any

from edge.apps.base import App, AppContext, CommandRefused, CommandSpec
from linli.contract import Kind, Scalar
from linli.contract import probe as pc
from linli.contract.probe import PulseArgs, SetArgs
from linli.i18n import Lang

from . import page
from .config import ProbeConfig

LOOP = "probe"


class ProbeApp(App):
    kind = Kind.probe
    config_model = ProbeConfig
    cfg: ProbeConfig

    def __init__(self, ctx: AppContext, cfg: ProbeConfig) -> None:
        super().__init__(ctx, cfg)
        self.presses = 0
        self._lock = threading.Lock()
        self._held_since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.ctx.hal.inputs[self.cfg.button].on_change(self._changed)
        self.ctx.watchdog.watch(LOOP)
        self._thread = threading.Thread(target=self._loop, name="probe-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.ctx.watchdog.unwatch(LOOP)
        self.ctx.hal.relays[self.cfg.output].off()
        if self._thread is not None and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def _loop(self) -> None:
        while not self._stop.wait(self.cfg.loop_interval_s):
            self.ctx.watchdog.kick(LOOP)
            try:
                self._tick()
            except Exception:
                self.ctx.logger.exception("probe loop failed")

    def _tick(self) -> None:
        """Switch a held output off once it has been on for max_on_s."""
        with self._lock:
            held = self._held_since
        relay = self.ctx.hal.relays[self.cfg.output]
        if held is not None and relay.is_on and time.monotonic() - held > self.cfg.max_on_s:
            relay.off()
            with self._lock:
                self._held_since = None
            self.ctx.emit(pc.AutoOff(held_s=round(time.monotonic() - held, 1)))

    # ------------------------------------------------------------------ inputs
    def _changed(self, name: str, active: bool) -> None:
        if self._stop.is_set():
            return
        with self._lock:
            if active:
                self.presses += 1
            count = self.presses
        self.ctx.emit(pc.InputChanged(input=name, active=active, count=count))

    # ------------------------------------------------------------------ commands
    def commands(self) -> dict[str, CommandSpec]:
        return {
            pc.PULSE_CMD.name: CommandSpec.of(pc.PULSE_CMD, self._pulse),
            pc.SET_CMD.name: CommandSpec.of(pc.SET_CMD, self._set),
        }

    def _pulse(self, args: PulseArgs) -> dict[str, Any]:
        if args.seconds > self.cfg.pulse_max_s:
            raise CommandRefused(f"pulse of {args.seconds} s is longer than pulse_max_s ({self.cfg.pulse_max_s} s)")
        self.ctx.hal.relays[self.cfg.output].pulse(args.seconds)
        with self._lock:
            self._held_since = None
        return {"seconds": args.seconds}

    def _set(self, args: SetArgs) -> dict[str, Any]:
        relay = self.ctx.hal.relays[self.cfg.output]
        if args.on:
            relay.on()
            with self._lock:
                self._held_since = time.monotonic()
        else:
            relay.off()
            with self._lock:
                self._held_since = None
        return {"on": relay.is_on, "max_on_s": self.cfg.max_on_s}

    # ------------------------------------------------------------------ views
    def apply_config(self, cfg: ProbeConfig) -> None:
        if cfg.button != self.cfg.button or cfg.output != self.cfg.output:
            raise ValueError("button and output cannot change while running (edit the file and restart)")
        self.cfg = cfg

    def gauges(self) -> dict[str, Scalar]:
        return {"presses": self.presses, "relay_on": self.ctx.hal.relays[self.cfg.output].is_on,
                "button_active": self.ctx.hal.inputs[self.cfg.button].is_active}

    def state(self) -> str:
        return "output_on" if self.ctx.hal.relays[self.cfg.output].is_on else "idle"

    def page_fragment(self, lang: Lang) -> str:
        return page.render(lang, presses=self.presses, relay_on=self.ctx.hal.relays[self.cfg.output].is_on,
                           button_active=self.ctx.hal.inputs[self.cfg.button].is_active,
                           pulse_s=min(0.5, self.cfg.pulse_max_s), max_on_s=self.cfg.max_on_s)
