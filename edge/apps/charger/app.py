"""The charging pile: wiring of the controller (pile.py), its loop, card reader, coin slot and commands."""

from __future__ import annotations

import threading
from typing import Any

from edge.apps.base import App, AppContext, CommandRefused, CommandSpec
from edge.hal.cardreader import CardReader, Credential
from linli.contract import Kind, Scalar
from linli.contract import charger as cc
from linli.contract.charger import PortArgs, SettleAckArgs, StartArgs, StopArgs
from linli.i18n import Lang

from . import page
from .config import ChargerConfig
from .journal import Journal
from .pile import PileController, StartRefused

LOOP = "charger"


class ChargerApp(App):
    kind = Kind.charger
    config_model = ChargerConfig
    cfg: ChargerConfig

    def __init__(self, ctx: AppContext, cfg: ChargerConfig) -> None:
        super().__init__(ctx, cfg)
        self.journal = Journal(ctx.data_dir / "charger.sqlite")
        hal = ctx.hal
        meter_port = hal.serial[cfg.meter.serial] if cfg.meter is not None else None
        self.pile = PileController(cfg, self.journal, hal.serial[cfg.mcu_serial], meter_port, ctx.emit,
                                   ctx.clock.time, ctx.ref.device)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.ctx.watchdog.watch(LOOP)
        self._spawn(self._loop, "charger-loop")
        if self.cfg.card_serial is not None:
            self._spawn(self._card_loop, "charger-cards")
        if self.cfg.coin_input is not None:
            self.ctx.hal.inputs[self.cfg.coin_input].on_change(self._coin)

    def _spawn(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.pile.wake.set()
        self.ctx.watchdog.unwatch(LOOP)
        for t in self._threads:
            if t.is_alive() and t is not threading.current_thread():
                t.join(3.0)
        self.pile.shutdown()
        self.journal.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.ctx.watchdog.kick(LOOP)
            try:
                self.pile.poll()
            except Exception:
                self.ctx.logger.exception("charger poll failed")
            self.pile.wake.wait(self.cfg.poll_interval_s)
            self.pile.wake.clear()

    def _card_loop(self) -> None:
        assert self.cfg.card_serial is not None
        CardReader("charger", self.ctx.hal.serial[self.cfg.card_serial], self.cfg.card_format, self._credential,
                   lambda _e: self.pile.refuse("card", "unreadable card data"), stop=self._stop).run()

    def _credential(self, cred: Credential) -> None:
        """A card shown at the pile: the same identity as at the gate (edge.hal.cardreader)."""
        if cred.kind != "card":
            self.pile.refuse("card", "not a card")
            return
        self.pile.card(cred.value)

    def _coin(self, name: str, active: bool) -> None:
        if active and not self._stop.is_set():
            self.pile.coin()

    # ------------------------------------------------------------------ commands
    def commands(self) -> dict[str, CommandSpec]:
        return {
            c.name: CommandSpec.of(c, fn) for c, fn in (
                (cc.START_CMD, self._start), (cc.STOP_CMD, self._stop_port), (cc.SETTLE_ACK_CMD, self._settle_ack),
                (cc.CLEAR_FAULT_CMD, self._clear_fault))
        }

    def _start(self, args: StartArgs) -> dict[str, Any]:
        call = self.ctx.current_command()
        local = call is not None and call.origin == "local"
        source = "local" if local else "remote"
        user = args.user or (call.by if call is not None else "")
        mode = "free" if args.free or local else self.cfg.tariff.mode
        if mode == "coin_time":
            mode = "time_tiers"
        try:
            return self.pile.start_session(args.port, source, user, mode, 0 if mode == "free" else args.prepaid_fen,
                                           args.minutes * 60, args.order_id)
        except StartRefused as e:
            raise CommandRefused(str(e)) from None

    def _stop_port(self, args: StopArgs) -> dict[str, Any]:
        call = self.ctx.current_command()
        reason = "local_stop" if call is not None and call.origin == "local" else "remote_stop"
        try:
            return self.pile.stop_session(args.port, reason, args.order_id)
        except StartRefused as e:
            raise CommandRefused(str(e)) from None

    def _settle_ack(self, args: SettleAckArgs) -> dict[str, Any]:
        return {"acked": self.pile.settle_ack(args.order_ids)}

    def _clear_fault(self, args: PortArgs) -> dict[str, Any]:
        try:
            return self.pile.clear_fault(args.port)
        except StartRefused as e:
            raise CommandRefused(str(e)) from None

    # ------------------------------------------------------------------ views
    def apply_config(self, cfg: ChargerConfig) -> None:
        if (cfg.ports, cfg.mcu_serial, cfg.meter, cfg.card_serial, cfg.coin_input) != (
                self.cfg.ports, self.cfg.mcu_serial, self.cfg.meter, self.cfg.card_serial, self.cfg.coin_input):
            raise ValueError("ports, serial ports, meter, card reader and coin input cannot change while running")
        if cfg.tariff != self.cfg.tariff and cfg.tariff.version <= self.cfg.tariff.version:
            raise ValueError(f"tariff changed without a higher version (now {self.cfg.tariff.version})")
        self.cfg = cfg
        self.pile.reconfigure(cfg)

    def gauges(self) -> dict[str, Scalar]:
        p = self.pile
        g: dict[str, Scalar] = {
            "mcu_ok": p.mcu_ok, "meter_ok": p.meter is not None and not p.meter.lost(), "smoke": p.smoke,
            "pile_power_w": round(p.pile_power_w, 1),
            "meter_kwh": round(p.meter.total_kwh, 3) if p.meter is not None else None,
            "meter_errors": p.meter.errors if p.meter is not None else None,
            "meter_busy_retries": p.meter.transient_retries if p.meter is not None else None,
            "sessions_open": sum(1 for x in p.ports if x.session is not None),
            "settlements_pending": self.journal.pending_count(), "tariff_version": self.cfg.tariff.version,
            "cycle_ms": round(p.cycle_ms, 1),
            "meter_power_mismatch": p.power_mismatch, "meter_energy_mismatch": p.energy_mismatch,
        }
        for x in p.ports:
            g[f"p{x.number}_state"] = x.state
            g[f"p{x.number}_w"] = round(x.power_w, 1)
            g[f"p{x.number}_wh"] = round(x.session.energy_wh, 1) if x.session is not None else None
            # for the resident's live page: charged time and cost so far, priced by the session's own tariff
            g[f"p{x.number}_s"] = round(x.session.charged_s) if x.session is not None else None
            g[f"p{x.number}_fen"] = (x.session.cost_fen(x.session.tariff_model) if x.session is not None
                                     else None)
        return g

    def state(self) -> str:
        p = self.pile
        if p.smoke:
            return "smoke"
        if not p.mcu_ok:
            return "fault"  # a lost meter is an alarm, not a stop (meter_checks.py)
        return "charging" if any(x.session is not None for x in p.ports) else "idle"

    def page_fragment(self, lang: Lang) -> str:
        return page.render(lang, self.pile, self.journal, self.cfg)
