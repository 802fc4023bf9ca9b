"""The pile controller: polls the MCU and the meter and drives every part (see state.py for the split).

Safety first (design §7): a port's relay goes off on overload, over-temperature, smoke (all ports) or a lost MCU;
the MCU's own watchdog drops every relay if this loop stops talking to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from firmware_bridge.errors import BridgeError
from firmware_bridge.pile.client import PileClient
from firmware_bridge.pile.messages import PileEvent, PortFlag, PortsSnapshot, StatusFlag

from .config import ChargerConfig
from .inputs import Inputs
from .journal import Journal
from .mcu_events import McuEvents
from .meter import PileMeter
from .meter_checks import MeterChecks
from .port import PortView
from .restore import Restore
from .state import Emit, StartRefused, iso

__all__ = ["PileController", "StartRefused", "iso"]


class PileController(McuEvents, MeterChecks, Inputs, Restore):
    def __init__(self, cfg: ChargerConfig, journal: Journal, mcu_port: Any, meter_port: Any | None,
                 emit: Emit, now: Callable[[], float], device: str) -> None:
        self.cfg = cfg
        self.journal = journal
        self.emit = emit
        self.now = now
        self.device = device
        self.lock = threading.RLock()
        self.wake = threading.Event()
        self.ports = [PortView(n) for n in range(1, cfg.ports + 1)]
        self.mcu = PileClient(mcu_port, timeout=cfg.mcu_timeout_s, retries=1, on_event=self._on_mcu_event)
        meta = journal.get_meta("meter") or {}
        self.meter: PileMeter | None = None
        if cfg.meter is not None and meter_port is not None:
            self.meter = PileMeter(cfg.meter, meter_port, now, self._meter_fault,
                                   float(meta.get("total_kwh", 0.0)), meta.get("last_raw_kwh"))
        self._mcu_events: list[PileEvent] = []
        self._ev_lock = threading.Lock()  # not self.lock: the reader thread must never wait for the poll
        self.mcu_ok = False
        self.mcu_ready = False  # HELLO done since the last loss
        self.mcu_info: dict[str, Any] = {}
        self.mcu_last_ok = now()
        self.mcu_lost_reported = False
        self.meter_lost_reported = False
        self.smoke = False
        self.pile_power_w = 0.0
        self.last_heartbeat = 0.0
        self.last_journal = 0.0
        self.last_meter_read = 0.0
        self.pending_payment: dict[str, Any] | None = None
        self.coin_count = 0
        self.coin_last = 0.0
        self.restored = False
        self.cycle_ms = 0.0
        self.polls = 0
        self.counts = {"sessions": 0, "settlements_sent": 0, "settlements_acked": 0, "refused": 0}
        self._init_meter_checks()

    def poll(self) -> None:
        t0 = time.monotonic()
        with self.lock:
            self._handle_events()
            snap = self._read_mcu()
            if snap is not None:
                self._apply(snap)
                self._handle_events()
            self._check_meter()
            self._expire_waits()
            if snap is not None or self.mcu_ok:
                self._journal_running()
            self.resend_settlements()
        self.cycle_ms = (time.monotonic() - t0) * 1000
        self.polls += 1

    def _read_mcu(self) -> PortsSnapshot | None:
        mono = time.monotonic()  # the MCU's watchdog runs in real time, whatever clock the sessions use
        try:
            if not self.mcu_ready:
                info = self.mcu.hello()
                self.mcu_info = {"firmware": ".".join(map(str, info.firmware)), "ports": info.port_count,
                                 "hardware": info.hardware_revision}
                self.mcu.heartbeat(self.cfg.mcu_watchdog_s)
                self.last_heartbeat = mono
                self.mcu_ready = True
            elif mono - self.last_heartbeat >= max(1.0, self.cfg.mcu_watchdog_s / 3):
                self.mcu.heartbeat(self.cfg.mcu_watchdog_s)
                self.last_heartbeat = mono
            snap = self.mcu.read_ports()
        except BridgeError as e:
            self.mcu_ok = False
            self.mcu_ready = False
            if self.now() - self.mcu_last_ok > self.cfg.mcu_lost_after_s and not self.mcu_lost_reported:
                self._mcu_lost(str(e))
            return None
        self.mcu_ok = True
        self.mcu_last_ok = self.now()
        if self.mcu_lost_reported:
            self.mcu_lost_reported = False
            self._fault("mcu_lost", None, "pile controller answering again", active=False)
        return snap

    def _apply(self, snap: PortsSnapshot) -> None:
        t = self.now()
        if not self.restored:
            self._restore(snap, t)
        self._set_smoke(StatusFlag.SMOKE in snap.status)
        total = 0.0
        for st in snap.ports:
            if not 1 <= st.port <= len(self.ports):
                continue
            p = self.ports[st.port - 1]
            if st.plugged != p.plugged:
                self._plug(st.port, st.plugged)  # a missed or late plug event
            p.power_w, p.voltage_v, p.temperature_c = st.power_w, st.voltage_v, st.temperature_c
            p.counter_wh = st.energy_wh
            p.relay_on, p.live = bool(PortFlag.RELAY_ON in st.flags), st.output_live
            total += st.power_w
            for flag, name in ((PortFlag.RELAY_WELDED, "relay_welded"), (PortFlag.FUSE_BLOWN, "fuse_blown"),
                               (PortFlag.TEMP_SENSOR_FAULT, "sensor_fault")):
                self._port_fault(p, name, flag in st.flags)
            self._temperature_plausible(p, st.temperature_c, st.power_w, t)
            s = p.session
            if s is None:
                if p.relay_on and not p.faults:
                    self._relay(p.number, False)  # nothing may be live without a session
                continue
            if s.state == "authorised":
                continue
            tariff = s.tariff_model
            s.count_energy(st.energy_wh, t, tariff)
            reason = s.step(t, st.power_w, st.temperature_c, st.plugged, self.cfg.limits, tariff)
            if reason is not None:
                self._cut_off(p, reason, st.power_w, st.temperature_c)
        self.pile_power_w = total
        self._pile_limit(snap)

    # ------------------------------------------------------------------ the controller's public face
    def can_start(self) -> bool:
        """Whether a start could be accepted now (the pile as a whole; a port may still be busy or faulty)."""
        return self.mcu_ok and not self.smoke

    def clear_fault(self, port: int) -> dict[str, Any]:
        """Ask the MCU to clear a port's latched faults (a technician repaired it); the MCU keeps those still true."""
        with self.lock:
            self.port(port)
            try:
                ack = self.mcu.clear_fault(port)
            except BridgeError as e:
                raise StartRefused(f"pile controller: {e}") from None
            return {"port": port, "flags": int(ack.flags)}

    def reconfigure(self, cfg: ChargerConfig) -> None:
        """A new config (tariff, limits): running sessions keep the tariff they started under."""
        with self.lock:
            self.cfg = cfg

    def shutdown(self) -> None:
        """A clean stop (not a power cut): the relays go off, open sessions stay journaled (resumed or settled when
        the agent comes back), the serial ports close."""
        with self.lock:
            if self.mcu_ok:
                for p in self.ports:
                    if p.relay_on:
                        try:
                            self.mcu.set_relay(p.number, False)
                        except BridgeError:
                            pass  # the MCU's watchdog drops it
            t = self.now()
            for p in self.ports:
                if p.session is not None:
                    self.journal.save_session(p.session.to_json(), True, t)
            self.close()

    def close(self) -> None:
        self.mcu.close()
        if self.meter is not None:
            self.meter.close()
