"""Safety cut-offs (design §7): a port's relay goes off on overload, over-temperature or a port fault; every
port on smoke or a lost MCU; the newest sessions first when the pile is over its limit. A temperature sensor stuck
at a plausible value is judged here too (the MCU cannot tell). The MCU's own watchdog drops every relay if the
controller stops talking to it."""

from __future__ import annotations

from firmware_bridge.pile.messages import PortsSnapshot

from .port import PortView
from .sessions import Sessions

STUCK_COLD_C = 1.0  # an outlet reading this or colder ...
STUCK_MIN_W = 100.0  # ... while drawing this much ...
STUCK_AFTER_S = 1800.0  # ... for this long has a stuck temperature sensor


class Safety(Sessions):
    def _set_smoke(self, active: bool) -> None:
        if active == self.smoke:
            return
        self.smoke = active
        if active:
            self._fault("smoke", None, "smoke detector: every port switched off")
            self.stop_all("smoke")
            self.pending_payment = None
        else:
            self._fault("smoke", None, "smoke detector clear", active=False)

    def _port_fault(self, p: PortView, name: str, active: bool) -> None:
        if active == (name in p.faults):
            return
        if active:
            p.faults.add(name)
            self._fault("sensor_fault" if name == "sensor_implausible" else name, p.number, {
                "relay_welded": "outlet live with the relay off",
                "fuse_blown": "no mains on the outlet with the relay on",
                "sensor_fault": "temperature sensor open or out of range",
                "sensor_implausible": f"temperature sensor stuck at {p.temperature_c} °C while the port draws power",
            }[name])
            if p.session is not None:
                self._finish(p, "sensor_fault" if name.startswith("sensor") else "port_fault")
        else:
            p.faults.discard(name)
            self._fault("sensor_fault" if name == "sensor_implausible" else name, p.number, "cleared", active=False)

    def _temperature_plausible(self, p: PortView, temp: float | None, power_w: float, t: float) -> None:
        """A sensor stuck at a plausible value (0 °C at an outlet drawing real power for half an hour) is a fault
        the MCU cannot see: over-temperature protection would be blind, so the port stops."""
        if temp is not None and temp <= STUCK_COLD_C and power_w >= STUCK_MIN_W:
            p.cold_since = p.cold_since if p.cold_since is not None else t
            if t - p.cold_since >= STUCK_AFTER_S:
                self._port_fault(p, "sensor_implausible", True)
        elif temp is not None and temp > STUCK_COLD_C:
            p.cold_since = None
            self._port_fault(p, "sensor_implausible", False)

    def _pile_limit(self, snap: PortsSnapshot) -> None:
        total = sum(p.power_w for p in self.ports if p.session is not None or p.live)
        if total <= self.cfg.limits.pile_max_w:
            return
        self._fault("pile_overload", None, f"pile draws {total:.0f} W > {self.cfg.limits.pile_max_w:.0f} W",
                    value=total)
        running = sorted((p for p in self.ports if p.session is not None and p.session.started_at),
                         key=lambda p: p.session.started_at or 0.0, reverse=True)  # type: ignore[union-attr]
        for p in running:  # newest first, until under the limit
            if total <= self.cfg.limits.pile_max_w:
                break
            total -= p.power_w
            self._finish(p, "pile_overload")

    def _cut_off(self, p: PortView, reason: str, power_w: float, temperature_c: float | None) -> None:
        """A session's own limit or protection says stop (see Session.step): alarm for the protections, then bill."""
        if reason in ("overload", "over_temperature"):
            value = power_w if reason == "overload" else temperature_c
            self._fault(reason, p.number, f"port {p.number}: {reason.replace('_', ' ')}", value=value)
        self._finish(p, reason)

    def _mcu_lost(self, error: str) -> None:
        """No answer from the MCU for ``mcu_lost_after_s``: its watchdog has dropped (or will drop) every relay, so
        every session is billed up to the last poll."""
        self.mcu_lost_reported = True
        self._fault("mcu_lost", None, f"pile controller not answering: {error}")
        for p in self.ports:
            p.relay_on = p.live = False
            p.power_w = 0.0
        self.stop_all("mcu_lost", switch_off=False)
