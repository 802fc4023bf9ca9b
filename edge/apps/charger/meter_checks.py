"""The feeder meter: what it is for, what its loss means, and the balance check against the ports.

**The rule when the meter is lost: charging goes on, an alarm is raised, new starts are accepted.**
Reasons:

- The meter plays no part in billing or protecting a port. Each session is billed from the MCU's per-port energy
  counter and its charging time; overload, over-temperature, the pile limit (the sum of the ports' MCU powers),
  smoke, welded relays and blown fuses all come from the MCU. None of them is weaker without the meter.
- A pile may run with no meter at all (``meter: null`` is a supported configuration), so a pile whose meter has
  gone quiet is no less safe than that; cutting every charge for an RS-485 glitch at night only leaves residents'
  bikes flat. Refusing new starts would have the same cost for the same (absent) gain, so starts are accepted.
- What *is* lost while the meter is silent is the cross-check below (leakage, a port measuring wrong): that is
  what the ``meter_lost`` alarm asks a technician to restore. The meter's own energy register keeps counting, so
  the pile's total energy is right again at the first reading after it returns; the alarm then clears.

A meter is lost only after ``lost_after_s`` with no good reading: a busy meter (Modbus 0x06 and the other
transient answers) is asked again by the client and counted, not lost.

**The balance check (what the meter is good at).** The meter on the feeder sees everything the pile draws; the
MCU measures each port. Their difference is the pile's own use (up to ``own_w``) within a tolerance (the larger of
``balance_tolerance_w`` and ``balance_tolerance_pct`` of the ports' sum). A persistent gap is a fault: current
leaking to earth, a port measuring low or high (its protection and bills are then wrong), a relay welded on a port
the MCU does not see drawing. Two alarms, each carrying the numbers:

- ``meter_power_mismatch``: the meter's power and the ports' sum disagree for ``balance_confirm_s`` (cleared after
  as long in agreement);
- ``meter_energy_mismatch``: over each ``balance_window_s``, the meter's energy and the ports' counters disagree
  (cleared by the next window that agrees). An MCU restart (counters back to 0) or a meter loss restarts the window.
"""

from __future__ import annotations

from .meter import MeterReading
from .safety import Safety

METER_RESOLUTION_WH = 20.0  # a 0.01 kWh register, read at both ends of an energy window


class MeterChecks(Safety):
    power_mismatch: bool  # the meter_power_mismatch alarm is raised
    energy_mismatch: bool  # the meter_energy_mismatch alarm is raised
    _power_gap_since: float | None  # outside the tolerance since
    _power_ok_since: float | None  # back inside since (while the alarm is raised)
    _energy_start: tuple[float, float, int] | None  # (time, meter total kWh, ports' counters Wh) of this window

    def _init_meter_checks(self) -> None:
        self.power_mismatch = self.energy_mismatch = False
        self._power_gap_since = self._power_ok_since = None
        self._energy_start = None

    def _check_meter(self) -> None:
        if self.meter is None:
            return
        t = self.now()
        if self.cfg.meter is not None and t - self.last_meter_read >= self.cfg.meter.interval_s:
            self.last_meter_read = t
            reading = self.meter.read()
            if reading is not None:
                self.journal.set_meta("meter", {"total_kwh": self.meter.total_kwh,
                                                "last_raw_kwh": self.meter.last_raw_kwh})
                if self.mcu_ok:
                    self._balance_power(reading, t)
                    self._balance_energy(t)
        if self.meter.lost():
            if not self.meter_lost_reported:
                self.meter_lost_reported = True
                self._energy_start = None
                self._power_gap_since = None
                self._fault("meter_lost", None, f"energy meter not answering: {self.meter.last_error} "
                                                "(charging goes on, billed and protected by the port controller)")
        elif self.meter_lost_reported:
            self.meter_lost_reported = False
            self._fault("meter_lost", None, "energy meter answering again", active=False)

    def _meter_fault(self, kind: str, detail: str, value: float) -> None:
        self._fault(kind, None, detail, value=value)

    # ------------------------------------------------------------------ balance
    def _allowed(self, ports: float, own: float, tol_abs: float) -> tuple[float, float]:
        """The range the meter may read for ``ports`` drawn by the ports and up to ``own`` by the pile itself."""
        assert self.cfg.meter is not None
        tol = max(tol_abs, self.cfg.meter.balance_tolerance_pct / 100 * ports)
        return ports - tol, ports + own + tol

    def _balance_power(self, reading: MeterReading, t: float) -> None:
        m = self.cfg.meter
        assert m is not None
        ports_w = sum(p.power_w for p in self.ports)
        lo, hi = self._allowed(ports_w, m.own_w, m.balance_tolerance_w)
        gap = reading.power_w - ports_w
        if not lo <= reading.power_w <= hi:
            self._power_ok_since = None
            self._power_gap_since = self._power_gap_since if self._power_gap_since is not None else t
            if not self.power_mismatch and t - self._power_gap_since >= m.balance_confirm_s:
                self.power_mismatch = True
                self._fault("meter_power_mismatch", None,
                            f"meter {reading.power_w:.0f} W, ports {ports_w:.0f} W: {gap:+.0f} W "
                            f"(allowed {lo - ports_w:+.0f} to {hi - ports_w:+.0f} W) for "
                            f"{t - self._power_gap_since:.0f} s: leakage, a port measuring wrong or a welded relay",
                            value=round(gap, 1))
            return
        self._power_gap_since = None
        if self.power_mismatch:
            self._power_ok_since = self._power_ok_since if self._power_ok_since is not None else t
            if t - self._power_ok_since >= m.balance_confirm_s:
                self.power_mismatch = False
                self._fault("meter_power_mismatch", None,
                            f"meter {reading.power_w:.0f} W and ports {ports_w:.0f} W agree again",
                            active=False, value=round(gap, 1))

    def _balance_energy(self, t: float) -> None:
        m = self.cfg.meter
        assert m is not None and self.meter is not None
        counters = [p.counter_wh for p in self.ports]
        if any(c is None for c in counters):
            return
        total_wh = sum(c for c in counters if c is not None)
        start = self._energy_start
        if start is None or total_wh < start[2]:  # first reading, or the MCU restarted (counters from 0)
            self._energy_start = (t, self.meter.total_kwh, total_wh)
            return
        t0, kwh0, wh0 = start
        dt = t - t0
        if dt < m.balance_window_s:
            return
        self._energy_start = (t, self.meter.total_kwh, total_wh)
        meter_wh = (self.meter.total_kwh - kwh0) * 1000
        ports_wh = float(total_wh - wh0)
        lo, hi = self._allowed(ports_wh, m.own_w * dt / 3600,
                               METER_RESOLUTION_WH + m.balance_tolerance_w * dt / 3600)
        gap = meter_wh - ports_wh
        ok = lo <= meter_wh <= hi
        if not ok:
            self.energy_mismatch = True
            self._fault("meter_energy_mismatch", None,
                        f"over {dt / 60:.0f} min the meter counted {meter_wh:.0f} Wh, the ports {ports_wh:.0f} Wh: "
                        f"{gap:+.0f} Wh (allowed {lo - ports_wh:+.0f} to {hi - ports_wh:+.0f} Wh)",
                        value=round(gap, 1))
        elif self.energy_mismatch:
            self.energy_mismatch = False
            self._fault("meter_energy_mismatch", None,
                        f"over {dt / 60:.0f} min meter {meter_wh:.0f} Wh and ports {ports_wh:.0f} Wh agree again",
                        active=False, value=round(gap, 1))
