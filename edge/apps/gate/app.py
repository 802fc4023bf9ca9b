"""The gate: lanes (barrier + loop + plate source), the LPR push endpoint, on-device recognition, cached lists,
parking sessions, the pedestrian door, and the guard's commands. Wiring only; the logic lives in its modules."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from edge.apps.base import App, AppContext, CommandRefused, CommandSpec
from edge.hal.cardreader import CardReader
from edge.runtime.preflight import StartupError, file_problem, port_problem
from linli.contract import Event, EventData, Kind, Scalar
from linli.contract import gate as gc
from linli.contract.gate import (
    CashArgs,
    CloseArgs,
    GateSettings,
    LaneArgs,
    ListsSyncArgs,
    OpenArgs,
    SessionPaidArgs,
    UnlockArgs,
)
from linli.i18n import Lang

from . import page
from .barrier import Alarm, Barrier, BarrierLogic, BarrierRefused
from .camerasource import CameraSource
from .config import GateConfig
from .door import Door
from .lane import Lane
from .lprpush import PushIntake
from .lprserver import LprServer
from .recognizer import PlateRecognizer, plate_model_files
from .store import GateStore

LOOP = "gate"


class GateApp(App):
    kind = Kind.gate
    config_model = GateConfig
    cfg: GateConfig

    def __init__(self, ctx: AppContext, cfg: GateConfig) -> None:
        super().__init__(ctx, cfg)
        self.store = GateStore(ctx.data_dir / "gate.sqlite", self._file_settings(cfg))
        self.lanes: dict[str, Lane] = {}
        self.barriers: dict[str, Barrier] = {}
        self.cameras: dict[str, CameraSource] = {}
        self.lpr: LprServer | None = None
        self.recognizer: PlateRecognizer | None = None
        self.door: Door | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.intake: PushIntake | None = None
        self.card_readers: dict[str, CardReader] = {}
        #: Recent guard alerts (blacklisted car, tailgating, forced door…: the contract's ``guard`` audience),
        #: newest first, for the lane's local page; the server keeps them for acknowledging and clearing.
        self.guard_alerts: deque[dict[str, Any]] = deque(maxlen=20)

    @staticmethod
    def _file_settings(cfg: GateConfig) -> GateSettings:
        return GateSettings(tariff=cfg.tariff, capacity_temporary=cfg.capacity_temporary)

    def _now(self) -> datetime:
        return self.ctx.clock.now()

    def _say(self, text: str) -> None:
        if self.cfg.voice:
            self.ctx.hal.speaker.say(text, "zh")

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def preflight(cls, cfg: GateConfig) -> list[str]:
        """Before the agent builds anything: the LPR push port is free, the plate models are readable."""
        out = []
        push = any(lc.source == "lpr_push" for lc in cfg.lanes.values())
        if push and (p := port_problem(cfg.lpr.host, cfg.lpr.port, "app.lpr.port")) is not None:
            out.append(p)
        if any(lc.source == "camera" for lc in cfg.lanes.values()):
            for name in plate_model_files(cfg.recognition.reader):
                if (p := file_problem(cfg.recognition.models_dir / name, "app.recognition.models_dir")) is not None:
                    out.append(p)
        return out

    def start(self) -> None:
        hal = self.ctx.hal
        for name, lc in self.cfg.lanes.items():
            logic = BarrierLogic(open_pulse_s=lc.open_pulse_s, close_pulse_s=lc.close_pulse_s,
                                 has_close=lc.close_relay is not None, auto_close_s=lc.auto_close_s,
                                 tailgate_window_s=lc.tailgate_window_s, arm_timeout_s=lc.arm_timeout_s,
                                 loop_stuck_s=lc.loop_stuck_s, has_arm_input=lc.arm_up is not None)
            barrier = Barrier(name, logic, hal.relays[lc.open_relay], hal.inputs[lc.loop] if lc.loop else None,
                              hal.relays[lc.close_relay] if lc.close_relay else None,
                              hal.inputs[lc.arm_up] if lc.arm_up else None, self.ctx.clock.monotonic,
                              lambda a, n=name: self._alarm(n, a))
            self.barriers[name] = barrier
            self.lanes[name] = Lane(name, lc, self.store, barrier, self._emit, self._now, self._say,
                                    self.cfg.repeat_window_s, self.cfg.exit_without_entry,
                                    reread_window_s=self.cfg.reread_window_s)
        for name, lc in self.cfg.lanes.items():
            if lc.card_reader:
                lane = self.lanes[name]
                self.card_readers[name] = CardReader(f"lane-{name}", hal.serial[lc.card_reader], lc.card_format,
                                                     lambda c, lane=lane: lane.card(c))
        if any(lc.source == "camera" for lc in self.cfg.lanes.values()):
            rc = self.cfg.recognition
            self.recognizer = PlateRecognizer(rc.models_dir, rc.det_max_side, rc.det_threshold, rc.threads,
                                              rc.reader, rc.det_fallback_side)
            for name, lc in self.cfg.lanes.items():
                if lc.source == "camera" and lc.camera:
                    self.ctx.watchdog.watch(f"camera-{name}", max(10.0, self.ctx.watchdog.timeout_s))
                    src = CameraSource(self.lanes[name], hal.cameras[lc.camera], self.recognizer,
                                       rc.min_confidence, rc.votes, self._emit, self._now,
                                       lambda n=name: self.ctx.watchdog.kick(f"camera-{n}"))
                    self.cameras[name] = src
        d = self.cfg.door
        if d is not None:
            self.door = Door(d, self.ctx.ref.site, self.store, hal.relays[d.lock_relay],
                             hal.inputs[d.exit_button] if d.exit_button else None,
                             hal.inputs[d.door_contact] if d.door_contact else None,
                             hal.inputs[d.fire_input] if d.fire_input else None,
                             hal.serial[d.reader] if d.reader else None, self._emit, self._now,
                             self.ctx.clock.monotonic, self._say)
            self.door.start()
        if any(lc.source == "lpr_push" for lc in self.cfg.lanes.values()):
            self.intake = PushIntake(self.lanes, self.store, self._now, self.cfg.lpr.max_clock_skew_s)
            self.lpr = LprServer(self.cfg.lpr, self.intake.handle)
            try:
                self.lpr.start()
            except OSError as exc:  # taken since the preflight check: the gate does not run on without it
                self.lpr = None
                raise StartupError(port_problem(self.cfg.lpr.host, self.cfg.lpr.port, "app.lpr.port")
                                   or f"app.lpr: push endpoint not started: {exc}") from None
        for src in self.cameras.values():
            src.start()
        for reader in self.card_readers.values():
            reader.start()
        self.ctx.watchdog.watch(LOOP)
        self._thread = threading.Thread(target=self._loop, name="gate-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.ctx.watchdog.unwatch(LOOP)
        for b in self.barriers.values():
            b.safe()
        if self.lpr is not None:
            self.lpr.stop()
        for reader in self.card_readers.values():
            reader.stop()
        for name, src in self.cameras.items():
            self.ctx.watchdog.unwatch(f"camera-{name}")
            src.stop()
        if self.door is not None:
            self.door.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)
        self.store.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.cfg.loop_interval_s):
            self.ctx.watchdog.kick(LOOP)
            try:
                for b in self.barriers.values():
                    b.tick()
                if self.door is not None:
                    self.door.tick()
            except Exception:
                self.ctx.logger.exception("gate loop failed")

    def _emit(self, data: EventData, blobs: Sequence[bytes] = ()) -> Event:
        """Emit an event; one whose audience is the guard is also listed on the local page."""
        ev = self.ctx.emit(data, blobs)
        if data.event_audience() == "guard":
            shown = data.model_dump(include={"lane", "door", "plate", "seconds", "reason"}, exclude_none=True)
            self.guard_alerts.appendleft({"zh": data.EVENT.zh, "en": data.EVENT.en, "at": ev.ts, **shown})
        return ev

    def _alarm(self, lane: str, alarm: Alarm) -> None:
        self._emit(gc.LANE_ALARMS[alarm.name](lane=lane, at=self._now(), detail=alarm.detail,
                                                 vehicles=alarm.vehicles, authorised=alarm.authorised,
                                                 seconds=alarm.seconds))

    # ------------------------------------------------------------------ commands
    def commands(self) -> dict[str, CommandSpec]:
        return {
            c.name: CommandSpec.of(c, fn) for c, fn in (
                (gc.OPEN_BARRIER_CMD, self._open), (gc.CLOSE_BARRIER_CMD, self._close),
                (gc.DENY_PENDING_CMD, self._deny), (gc.PAY_CASH_CMD, self._cash),
                (gc.SESSION_PAID_CMD, self._paid), (gc.LISTS_SYNC_CMD, self._sync),
                (gc.UNLOCK_DOOR_CMD, self._unlock))
        }

    def _by(self) -> str:
        call = self.ctx.current_command()
        return call.by if call is not None else "unknown"

    def _lane(self, name: str) -> Lane:
        lane = self.lanes.get(name)
        if lane is None:
            raise CommandRefused(f"no lane {name!r} (lanes: {', '.join(self.lanes)})")
        return lane

    def _open(self, args: OpenArgs) -> dict[str, Any]:
        return self._lane(args.lane).manual_open(args.reason.strip(), self._by())

    def _close(self, args: CloseArgs) -> dict[str, Any]:
        lane = self._lane(args.lane)
        try:
            lane.barrier.close()
        except BarrierRefused as exc:
            raise CommandRefused(str(exc)) from None
        return {"lane": lane.name, "closing": True}

    def _deny(self, args: LaneArgs) -> dict[str, Any]:
        return self._lane(args.lane).deny_pending(self._by())

    def _cash(self, args: CashArgs) -> dict[str, Any]:
        cents = None if args.amount_yuan is None else round(args.amount_yuan * 100)
        return self._lane(args.lane).pay(cents, "cash", self._by())

    def _paid(self, args: SessionPaidArgs) -> dict[str, Any]:
        session = self.store.session(args.session_id) if args.session_id else None
        if session is None and args.plate:
            session = self.store.open_session(args.plate)
        if session is None:
            raise CommandRefused("no such parking session on this gate")
        for lane in self.lanes.values():
            p = lane.pending
            if p is not None and p.kind == "pay" and p.verdict.session and p.verdict.session.id == session.id:
                return lane.pay(args.amount_cents, args.method, self._by(), args.payment_id, session.id)
        fresh = self.store.add_payment(session.id, args.amount_cents, args.method, args.payment_id, self._now())
        if fresh:
            self.ctx.emit(gc.PaymentData(session_id=session.id, plate=session.plate, amount_cents=args.amount_cents,
                                         method=args.method, payment_id=args.payment_id, by=self._by(),
                                         at=self._now()))
        return {"session_id": session.id, "amount_cents": args.amount_cents, "duplicate": not fresh, "opened": False}

    def _sync(self, args: ListsSyncArgs) -> dict[str, Any]:
        result = self.store.apply_sync(args)
        if result["applied"]:
            self.ctx.emit(gc.ListsAppliedData(version=args.version, base_version=args.base_version,
                                              entries=len(args.upserts), deleted=len(args.deletes), reset=args.reset))
        return result

    def _unlock(self, args: UnlockArgs) -> dict[str, Any]:
        if self.door is None:
            raise CommandRefused("this gate has no door configured")
        self.door.unlock("remote", None, None, "remote_unlock", by=f"{self._by()}: {args.reason.strip()}"[:64])
        return {"door": self.door.cfg.name, "unlock_s": self.door.cfg.unlock_s}

    # ------------------------------------------------------------------ views
    def apply_config(self, cfg: GateConfig) -> None:
        if cfg.lanes != self.cfg.lanes or cfg.door != self.cfg.door or cfg.lpr != self.cfg.lpr:
            raise ValueError("lanes, door and lpr cannot change while running (edit the file and restart)")
        self.cfg = cfg
        self.store.set_default_settings(self._file_settings(cfg))
        for lane in self.lanes.values():
            lane.repeat_window_s = cfg.repeat_window_s
            lane.exit_without_entry = cfg.exit_without_entry
            lane.reread_window_s = cfg.reread_window_s

    def gauges(self) -> dict[str, Scalar]:
        inside = self.store.inside()
        g: dict[str, Scalar] = {
            "lists_version": self.store.version,
            "inside_total": sum(inside.values()), "inside_temporary": inside.get("temporary", 0),
            "capacity_temporary": self.store.settings.capacity_temporary,
        }
        for name, lane in self.lanes.items():
            g[f"lane_{name}_state"] = lane.barrier.state()
            g[f"lane_{name}_loop"] = lane.barrier.occupied
            g[f"lane_{name}_passages"] = lane.counts["passages"]
            g[f"lane_{name}_pending"] = lane.pending.kind if lane.pending else ""
        for name, src in self.cameras.items():
            g[f"lane_{name}_recog_ms"] = round(src.last_ms, 1)
        if self.lpr is not None:
            for k, v in self.lpr.counts.items():
                g[f"lpr_{k}"] = v
        if self.door is not None:
            g["door_unlocked"] = self.door.lock.is_on
            g["door_fire"] = self.door.fire
        return g

    def state(self) -> str:
        if any(lane.pending for lane in self.lanes.values()):
            return "waiting_guard"
        if self.door is not None and self.door.fire:
            return "fire_unlocked"
        return "ready"

    def model_version(self) -> str | None:
        return self.recognizer.version if self.recognizer is not None else None

    def page_fragment(self, lang: Lang) -> str:
        return page.render(lang, lanes=[lane.view() for lane in self.lanes.values()],
                           door=self.door.view() if self.door else None, lists_version=self.store.version,
                           counts=self.store.counts(), inside=self.store.inside(), settings=self.store.settings,
                           lpr_url=self.lpr.url if self.lpr else None, guard_alerts=list(self.guard_alerts))


