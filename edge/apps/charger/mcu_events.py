"""What the MCU reports by itself (events, on its reader thread): plug changes, smoke, latched port faults, its
watchdog and restarts. The reader thread only queues them; the poll handles them under the controller's lock."""

from __future__ import annotations

from firmware_bridge.pile.messages import (
    BootEvent,
    FaultEvent,
    PileEvent,
    PlugEvent,
    SmokeEvent,
    WatchdogEvent,
)

from .safety import Safety
from .state import StartRefused


class McuEvents(Safety):
    def _on_mcu_event(self, ev: PileEvent) -> None:
        with self._ev_lock:
            self._mcu_events.append(ev)
        if isinstance(ev, SmokeEvent) and ev.active:
            self.wake.set()  # act now, not at the next poll
        elif isinstance(ev, PlugEvent):
            self.wake.set()

    def _handle_events(self) -> None:
        with self._ev_lock:
            events, self._mcu_events = self._mcu_events, []
        for ev in events:
            if isinstance(ev, SmokeEvent):
                self._set_smoke(ev.active)
            elif isinstance(ev, PlugEvent):
                self._plug(ev.port, ev.plugged)
            elif isinstance(ev, FaultEvent):
                name = {1: "relay_welded", 2: "fuse_blown", 3: "sensor_fault"}.get(int(ev.fault))
                if name is not None and 1 <= ev.port <= len(self.ports):
                    self._port_fault(self.ports[ev.port - 1], name, ev.active)
            elif isinstance(ev, WatchdogEvent):
                self._fault("mcu_watchdog", None, f"MCU watchdog ({ev.timeout_s} s) switched every relay off")
                self.mcu_ready = False
            elif isinstance(ev, BootEvent):
                self._fault("mcu_rebooted", None, f"MCU restarted (reset cause {int(ev.reset_cause)})")
                self.mcu_ready = False
                for p in self.ports:
                    p.relay_on = p.live = False
                    if p.session is not None and p.session.state != "authorised":
                        self._finish(p, "mcu_lost", switch_off=False)

    def _plug(self, n: int, plugged: bool) -> None:
        if not 1 <= n <= len(self.ports):
            return
        p = self.ports[n - 1]
        if plugged == p.plugged:
            return
        p.plugged = plugged
        t = self.now()
        if plugged:
            p.plugged_at = t
            p.last_reason = None
            if p.session is not None and p.session.state == "authorised":
                self._switch_on(p, t)
            elif p.session is None and self.pending_payment is not None and not p.faults:
                pay, self.pending_payment = self.pending_payment, None
                try:
                    self.start_session(n, pay["source"], pay["user"], pay["mode"], pay["fen"], pay["s"])
                except StartRefused as e:
                    self.refuse(pay["source"], str(e), n, pay["user"])
        else:
            p.plugged_at = None
            p.last_reason = None
            if p.session is not None and p.session.state != "authorised":
                self._finish(p, "unplugged")
