"""Sessions: start (by order id, once), switch on at the plug, stop, bill, journal, and settle until the server
acknowledges. A session is billed from the MCU's per-port counter and its own copy of the tariff (see port.py)."""

from __future__ import annotations

from typing import Any

from ulid import ULID

from firmware_bridge.errors import BridgeError
from linli.contract import charger as cc

from .port import PortView, Session
from .state import PileState, StartRefused, iso


class Sessions(PileState):
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
