"""The pile controller: polls the MCU and the meter, runs every port's session, enforces the safety cut-offs,
journals sessions and settles them until the server acknowledges.

Safety first (design §7): a port's relay goes off on overload, over-temperature, smoke (all ports), a lost meter or
a lost MCU; the MCU's own watchdog drops every relay if this loop stops talking to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ulid import ULID

from edge.apps.base import Emit
from firmware_bridge.errors import BridgeError
from firmware_bridge.pile.client import PileClient
from firmware_bridge.pile.messages import (
    BootEvent,
    FaultEvent,
    PileEvent,
    PlugEvent,
    PortFlag,
    PortsSnapshot,
    SmokeEvent,
    StatusFlag,
    WatchdogEvent,
)
from linli.contract import charger as cc

from .config import ChargerConfig
from .journal import Journal
from .meter import PileMeter
from .port import PortView, Session
from .tariff import Tariff

log = logging.getLogger(__name__)

STUCK_COLD_C = 1.0  # an outlet reading this or colder ...
STUCK_MIN_W = 100.0  # ... while drawing this much ...
STUCK_AFTER_S = 1800.0  # ... for this long has a stuck temperature sensor


class StartRefused(Exception):
    """A start that cannot be done; the message says why (shown to staff, sent as the command's error)."""


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class PileController:
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

    # ------------------------------------------------------------------ helpers
    @property
    def tariff(self) -> Tariff:
        return self.cfg.tariff

    def port(self, n: int) -> PortView:
        if not 1 <= n <= len(self.ports):
            raise StartRefused(f"no port {n} (ports 1-{len(self.ports)})")
        return self.ports[n - 1]

    def _fault(self, fault: str, port: int | None, detail: str, active: bool = True,
               value: float | None = None) -> None:
        data = cc.Fault(fault=fault, port=port, active=active, detail=detail[:500], value=value)  # type: ignore[arg-type]
        self.emit(data)

    def _relay(self, n: int, on: bool) -> bool:
        """Switch a relay; True when the MCU confirmed it. Failures are left to the loss detection."""
        try:
            ack = self.mcu.set_relay(n, on)
        except BridgeError as e:
            log.warning("port %s: relay %s failed: %s", n, "on" if on else "off", e)
            return False
        p = self.ports[n - 1]
        p.relay_on, p.live = ack.requested, ack.actual
        if ack.actual != on:
            self._fault("relay_mismatch", n, f"relay asked {'on' if on else 'off'}, outlet "
                                             f"{'live' if ack.actual else 'dead'}")
        return ack.actual == on

    # ------------------------------------------------------------------ starting
    def start_session(self, port: int | None, source: str, user: str, mode: str, prepaid_fen: int, prepaid_s: int,
                      order_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            if order_id and self.journal.has_order(order_id):
                body = self.journal.session(order_id) or {}
                return {"order_id": order_id, "port": body.get("port"), "duplicate": True,
                        "state": self.ports[body["port"] - 1].state if body.get("port") else "unknown"}
            if self.smoke:
                raise StartRefused("smoke alarm active: charging is stopped")
            if not self.mcu_ok:
                raise StartRefused("pile controller (MCU) not reachable")
            if self.meter is not None and self.meter.lost():
                raise StartRefused("energy meter not reachable")
            if port is None:
                raise StartRefused("no port given")
            p = self.port(port)
            if p.session is not None:
                raise StartRefused(f"port {port} is busy (order {p.session.order_id})")
            if p.faults:
                raise StartRefused(f"port {port} is out of service: {', '.join(sorted(p.faults))}")
            oid = order_id or f"{self.device}-{ULID()}"
            t = self.now()
            s = Session(order_id=oid, port=port, source=source, user=user, mode=mode,
                        tariff=self.tariff.model_dump(mode="json"), prepaid_fen=prepaid_fen, prepaid_s=prepaid_s,
                        created_at=t)
            p.session = s
            p.last_reason = None
            self.counts["sessions"] += 1
            if p.plugged:
                self._switch_on(p, t)
            self.journal.save_session(s.to_json(), True, t)
            return {"order_id": oid, "port": port, "state": p.state, "duplicate": False}

    def _switch_on(self, p: PortView, t: float) -> None:
        s = p.session
        assert s is not None
        if not self._relay(p.number, True):
            return
        s.state = "charging"
        s.started_at = t
        s.last_tick = t
        s.last_counter_wh = p.counter_wh  # the counter stood still while the relay was off
        self.journal.save_session(s.to_json(), True, t)
        data = cc.SessionStarted(order_id=s.order_id, port=p.number, source=s.source, user=s.user,  # type: ignore[arg-type]
                                 mode=s.mode, tariff_version=int(s.tariff.get("version", 1)),  # type: ignore[arg-type]
                                 prepaid_fen=s.prepaid_fen, prepaid_s=s.prepaid_s, started_at=iso(t))
        self.emit(data)

    def pay(self, source: str, user: str, prepaid_fen: int, prepaid_s: int, mode: str) -> dict[str, Any]:
        """A coin or card payment: to the port plugged most recently without a session, else held for the next plug."""
        with self.lock:
            free = [p for p in self.ports if p.plugged and p.session is None and not p.faults]
            if free:
                target = max(free, key=lambda p: p.plugged_at or 0.0)
                return self.start_session(target.number, source, user, mode, prepaid_fen, prepaid_s)
            if self.smoke or not self.mcu_ok:
                raise StartRefused("charging is stopped (smoke or pile controller fault)")
            held = self.pending_payment
            if held is not None:
                if held["source"] == "coin" and source == "coin":  # more coins for the same wait: add them up
                    held.update(fen=held["fen"] + prepaid_fen, s=held["s"] + prepaid_s, at=self.now(),
                                user=f"{held['user']} + {user}")
                    return {"waiting_for_plug": True, "wait_s": self.cfg.limits.wait_plug_s}
                raise StartRefused("another payment is waiting for a charger to be plugged in")
            self.pending_payment = {"source": source, "user": user, "fen": prepaid_fen, "s": prepaid_s,
                                    "mode": mode, "at": self.now()}
            return {"waiting_for_plug": True, "wait_s": self.cfg.limits.wait_plug_s}

    def refuse(self, source: str, reason: str, port: int | None = None, user: str = "") -> None:
        self.counts["refused"] += 1
        data = cc.Refused(source=source, port=port, user=user, reason=reason)  # type: ignore[arg-type]
        self.emit(data)

    # ------------------------------------------------------------------ stopping and settling
    def stop_session(self, port: int, reason: str, order_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            p = self.port(port)
            if p.session is None:
                return {"port": port, "stopped": False, "detail": "no session on this port"}
            if order_id and p.session.order_id != order_id:
                raise StartRefused(f"port {port} runs order {p.session.order_id}, not {order_id}")
            bill = self._finish(p, reason)
            return {"port": port, "stopped": True, "order_id": bill["order_id"], "amount_fen": bill["amount_fen"]}

    def _finish(self, p: PortView, reason: str, switch_off: bool = True) -> dict[str, Any]:
        s = p.session
        assert s is not None
        t = self.now()
        if switch_off and (p.relay_on or s.state != "authorised"):
            self._relay(p.number, False)
        if s.state != "authorised" and self.mcu_ok and reason not in ("mcu_lost", "power_restored"):
            self._final_count(p, s, t)
        if s.state != "authorised" and s.last_tick is not None and reason not in ("mcu_lost", "power_restored"):
            s.charged_s += max(0.0, t - s.last_tick)
            s.last_tick = t
        tariff = s.tariff_model
        bill = s.bill(tariff, reason, t)
        p.session = None
        p.last_reason = reason
        if self.journal.finish(s.to_json(), bill, t):
            self._send_settlement(bill, 1)
        return bill

    def _final_count(self, p: PortView, s: Session, t: float) -> None:
        """Count the energy drawn since the last poll (the counter stops moving once the relay is off)."""
        try:
            snap = self.mcu.read_ports()
        except BridgeError:
            return
        for st in snap.ports:
            if st.port == p.number:
                p.counter_wh = st.energy_wh
                s.count_energy(st.energy_wh, t, s.tariff_model)

    def _send_settlement(self, bill: dict[str, Any], attempt: int) -> None:
        body = {**bill, "started_at": iso(bill["started_at"]), "ended_at": iso(bill["ended_at"]), "attempt": attempt}
        data = cc.Settlement.model_validate(body)
        self.emit(data)
        self.journal.mark_sent(bill["order_id"], self.now())
        self.counts["settlements_sent"] += 1

    def resend_settlements(self) -> None:
        for _oid, bill, attempts in self.journal.settlements_due(self.now(), self.cfg.settle_resend_s):
            self._send_settlement(bill, attempts + 1)

    def settle_ack(self, order_ids: list[str]) -> list[str]:
        done = self.journal.ack(order_ids, self.now())
        self.counts["settlements_acked"] += len(done)
        return done

    def stop_all(self, reason: str, switch_off: bool = True) -> None:
        for p in self.ports:
            if p.session is not None:
                self._finish(p, reason, switch_off)
        if switch_off and self.mcu_ok:
            for p in self.ports:
                if p.relay_on:
                    self._relay(p.number, False)

    # ------------------------------------------------------------------ MCU events (reader thread)
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

    # ------------------------------------------------------------------ the poll
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
                self.mcu_lost_reported = True
                self._fault("mcu_lost", None, f"pile controller not answering: {e}")
                for p in self.ports:
                    p.relay_on = p.live = False
                    p.power_w = 0.0
                self.stop_all("mcu_lost", switch_off=False)  # the MCU's watchdog drops the relays
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
                if reason in ("overload", "over_temperature"):
                    value = st.power_w if reason == "overload" else st.temperature_c
                    self._fault(reason, p.number, f"port {p.number}: {reason.replace('_', ' ')}", value=value)
                self._finish(p, reason)
        self.pile_power_w = total
        self._pile_limit(snap)

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

    def _check_meter(self) -> None:
        if self.meter is None:
            return
        t = self.now()
        if self.cfg.meter is not None and t - self.last_meter_read >= self.cfg.meter.interval_s:
            self.last_meter_read = t
            if self.meter.read() is not None:
                self.journal.set_meta("meter", {"total_kwh": self.meter.total_kwh,
                                                "last_raw_kwh": self.meter.last_raw_kwh})
        if self.meter.lost():
            if not self.meter_lost_reported:
                self.meter_lost_reported = True
                self._fault("meter_lost", None, f"energy meter not answering: {self.meter.last_error}")
                self.stop_all("meter_lost")
        elif self.meter_lost_reported:
            self.meter_lost_reported = False
            self._fault("meter_lost", None, "energy meter answering again", active=False)

    def _meter_fault(self, kind: str, detail: str, value: float) -> None:
        self._fault(kind, None, detail, value=value)

    def _expire_waits(self) -> None:
        t = self.now()
        for p in self.ports:
            s = p.session
            if s is not None and s.state == "authorised" and t - s.created_at >= self.cfg.limits.wait_plug_s:
                self._finish(p, "no_plug", switch_off=False)
        pay = self.pending_payment
        if pay is not None and t - pay["at"] >= self.cfg.limits.wait_plug_s:
            self.pending_payment = None
            self.refuse(pay["source"], "no charger plugged in within the wait", None, pay["user"])
        if self.coin_count and t - self.coin_last >= self.cfg.coin_window_s:
            self._coins_done()

    def _journal_running(self) -> None:
        t = self.now()
        if t - self.last_journal < self.cfg.journal_interval_s:
            return
        self.last_journal = t
        for p in self.ports:
            if p.session is not None:
                self.journal.save_session(p.session.to_json(), True, t)

    # ------------------------------------------------------------------ restart
    def _restore(self, snap: PortsSnapshot, t: float) -> None:
        """After an agent restart: resume sessions still plugged within ``resume_within_s``, settle the others."""
        self.restored = True
        by_port = {st.port: st for st in snap.ports}
        for doc in self.journal.open_sessions():
            s = Session.from_json(doc)
            if not 1 <= s.port <= len(self.ports):
                continue
            p = self.ports[s.port - 1]
            st = by_port.get(s.port)
            p.session = s
            p.plugged = bool(st and st.plugged)
            if st is not None and s.state != "authorised":
                s.count_energy(st.energy_wh, t, s.tariff_model)  # energy drawn until the MCU's watchdog cut
            gap = t - (s.last_tick or s.created_at)
            if s.state == "authorised":
                if gap >= self.cfg.limits.wait_plug_s:
                    self._finish(p, "no_plug", switch_off=False)
                continue
            if (gap <= self.cfg.resume_within_s and p.plugged and not self.smoke
                    and s.limit_reason(self.cfg.limits, s.tariff_model) is None):
                s.resumed += 1
                s.last_tick = t  # the outage is not billed as charging time
                if self._relay(p.number, True):
                    self.journal.save_session(s.to_json(), True, t)
                    continue
            self._finish(p, "power_restored")

    # ------------------------------------------------------------------ inputs
    def coin(self) -> None:
        with self.lock:
            self.coin_count += 1
            self.coin_last = self.now()

    def _coins_done(self) -> None:
        n, self.coin_count = self.coin_count, 0
        tariff = self.tariff
        try:
            self.pay("coin", f"{n} coin{'s' if n > 1 else ''}", n * tariff.coin_fen, n * tariff.coin_minutes * 60,
                     "coin_time")
        except StartRefused as e:
            self.refuse("coin", f"{e} ({n} coins, {n * tariff.coin_yuan:g} 元 to give back)")

    def card(self, card_id: str) -> None:
        with self.lock:
            allowed = self.cfg.cards_allowed
            if allowed is not None and card_id not in allowed:
                self.refuse("card", "card not accepted here", None, card_id)
                return
            busy = [p for p in self.ports if p.session is not None and p.session.source == "card"
                    and p.session.user == card_id]
            try:
                if busy:  # the same card again stops its session (how residents end a charge early)
                    self.stop_session(busy[0].number, "user_stop")
                    return
                self.pay("card", card_id, self.cfg.card_prepay_fen, 0, self.tariff.mode)
            except StartRefused as e:
                self.refuse("card", str(e), None, card_id)

    def close(self) -> None:
        self.mcu.close()
        if self.meter is not None:
            self.meter.close()
