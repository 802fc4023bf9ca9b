"""The lift guard: wiring of the camera loop, the pipeline, the guard, voice and evidence; and its commands.

Commands (remote through the server, and on the local page where marked; every one audited by the runtime):

- ``release {minutes?, reason?}`` — let the door go and pause blocking (a false alarm, a permitted delivery);
- ``resume`` — end a pause early;
- ``reset_faults`` (local) — clear a latched relay read-back fault after the wiring was checked;
- ``test_voice`` (local) and ``test_relay`` (local) — refused unless the car stands with its door open.
"""

from __future__ import annotations

import threading
from typing import Any

from edge.apps.base import App, AppContext, CommandRefused, CommandSpec
from edge.runtime.metrics import Histogram
from edge.runtime.preflight import file_problem
from edge.vision import Detector, ModelError, load_detector
from edge.vision.detector import resolve_path
from edge.vision.second_stage import SecondStage
from linli.contract import Kind, NoArgs, Scalar
from linli.contract import lift_guard as lc
from linli.contract.lift_guard import ReleaseArgs
from linli.i18n import Lang

from . import page
from .camera_loop import CameraLoop
from .classifier import ClassifierSlot
from .config import LiftGuardConfig
from .evidence import EvidenceStore
from .guard import LATCHING, Guard
from .pipeline import LiftPipeline
from .voice import Prompter


class LiftGuardApp(App):
    kind = Kind.lift_guard
    config_model = LiftGuardConfig
    cfg: LiftGuardConfig

    def __init__(self, ctx: AppContext, cfg: LiftGuardConfig) -> None:
        super().__init__(ctx, cfg)
        hal = ctx.hal
        self.relay = hal.relays[cfg.hold_relay]
        self.door = hal.inputs[cfg.door_input]
        self.inhibits = {name: hal.inputs[name] for name in cfg.inhibit_names}
        self.evidence = EvidenceStore(ctx.data_dir / "snapshots", cfg.snapshots.retention_days)
        self.prompter = Prompter(cfg.voice, hal.speaker)
        self.detector: Detector | None = None
        self.model_error: str | None = None
        self.guard = Guard(cfg, self.relay, self.door, self.inhibits, self.prompter, ctx.emit, self.evidence,
                           ctx.clock, ctx.logger)
        self.loop: CameraLoop | None = None
        self.second: SecondStage | None = None
        self.classifier = ClassifierSlot(ctx.data_dir, ctx.emit, ctx.logger, self._install_second)
        self._started = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def _load_model(self) -> None:
        try:
            det = load_detector(self.cfg.detector)
        except ModelError as exc:
            self.model_error = str(exc)
            return
        unknown = [lb for lb in self.cfg.classes.map if lb not in det.label_names()]
        if unknown:
            self.model_error = (f"classes.map: label(s) {', '.join(unknown)} are not labels of {det.path.name} "
                                f"(it has e.g. {', '.join(sorted(det.label_names())[:8])} …)")
            return
        self.detector = det
        self.guard.model = det.version

    @classmethod
    def preflight(cls, cfg: LiftGuardConfig) -> list[str]:
        """Before the agent builds anything: the model (and labels) file can be read and loaded, and the class
        map names its labels (a lift guard without its detector must not start)."""
        out = [file_problem(resolve_path(cfg.detector.model), "app.detector.model")]
        if cfg.detector.labels is not None:
            out.append(file_problem(resolve_path(cfg.detector.labels), "app.detector.labels"))
        problems = [p for p in out if p is not None]
        if problems:
            return problems
        try:
            det = load_detector(cfg.detector)
        except ModelError as exc:
            return [f"app.detector: {exc}"]
        unknown = [lb for lb in cfg.classes.map if lb not in det.label_names()]
        if unknown:
            return [f"app.classes.map: label(s) {', '.join(unknown)} are not labels of {det.path.name}"]
        return []

    def start(self) -> None:
        self._load_model()
        if self.model_error is not None:  # `linli agent` refuses this in preflight; in-process: a fault, relay off
            self.ctx.logger.error("detector not usable: %s", self.model_error)
            self.guard.set_fault("detector", self.model_error)
        self.door.on_change(self.guard.door_changed)
        for inp in self.inhibits.values():
            inp.on_change(self.guard.inhibit_changed)
        pipeline = LiftPipeline(self.cfg, self.detector, self.second)
        self.loop = CameraLoop(self.ctx.hal.cameras[self.cfg.camera], pipeline, self.guard, self.ctx.watchdog,
                               self.evidence, self.cfg.live_every_s, self.cfg.camera_grace_s, self.ctx.logger)
        self.loop.start()
        self._started = True
        self.classifier.want(self.cfg.classifier, self.cfg.second_stage, frozenset(self.cfg.classes.acting))

    def _install_second(self, second: SecondStage | None) -> None:
        """The classifier slot's thread hands over a loaded classifier (or None: detector only)."""
        self.second = second
        self.guard.classifier = second.version if second is not None else None
        if self.loop is not None:
            self.loop.pipeline.second = second

    def stop(self) -> None:
        self.classifier.stop()
        self.relay.off()
        if self.loop is not None:
            self.loop.stop()
        self.guard.shutdown()

    def apply_config(self, cfg: LiftGuardConfig) -> None:
        fixed = ("camera", "door_input", "hold_relay", "inhibit_inputs", "detector")
        changed = [k for k in fixed if getattr(cfg, k) != getattr(self.cfg, k)]
        if changed:
            raise ValueError(f"{', '.join(changed)} cannot change while running (edit the file and restart)")
        if self.detector is not None:
            unknown = [lb for lb in cfg.classes.map if lb not in self.detector.label_names()]
            if unknown:
                raise ValueError(f"classes.map: {', '.join(unknown)} are not labels of the model")
        self.cfg = cfg
        self.guard.reconfigure(cfg)
        self.prompter.cfg = cfg.voice
        self.evidence.retention_days = cfg.snapshots.retention_days
        if self.loop is not None:
            self.loop.pipeline = LiftPipeline(cfg, self.detector, self.second)
            self.loop.live_every_s = cfg.live_every_s
        if self._started:
            self.classifier.want(cfg.classifier, cfg.second_stage, frozenset(cfg.classes.acting))

    # ------------------------------------------------------------------ commands
    def commands(self) -> dict[str, CommandSpec]:
        return {
            c.name: CommandSpec.of(c, fn) for c, fn in (
                (lc.RELEASE_CMD, self._release), (lc.RESUME_CMD, self._resume),
                (lc.RESET_FAULTS_CMD, self._reset_faults), (lc.TEST_VOICE_CMD, self._test_voice),
                (lc.TEST_RELAY_CMD, self._test_relay))
        }

    def _caller(self) -> tuple[str, str]:
        call = self.ctx.current_command()
        if call is None:
            return "app", "local"
        return call.by, call.origin

    def _release(self, args: ReleaseArgs) -> dict[str, Any]:
        minutes = args.minutes if args.minutes is not None else self.cfg.release_default_min
        if minutes > self.cfg.release_max_min:
            raise CommandRefused(f"暂停 {minutes:g} 分钟超过上限 {self.cfg.release_max_min:g} 分钟 / a pause of "
                                 f"{minutes:g} min is longer than release_max_min ({self.cfg.release_max_min:g} min)")
        by, origin = self._caller()
        return self.guard.release(by, origin, minutes, (args.reason or "").strip() or None)

    def _resume(self, _args: NoArgs) -> dict[str, Any]:
        by, _ = self._caller()
        return self.guard.resume(by)

    def _reset_faults(self, _args: NoArgs) -> dict[str, Any]:
        by, _ = self._caller()
        cleared = [k for k in list(self.guard.faults) if k in LATCHING and self.guard.clear_fault(k, by=by)]
        return {"cleared": cleared, "still_active": sorted(self.guard.faults)}

    def _car_may_move(self) -> str | None:
        if not self.guard.door_open():
            return ("门开信号无效，轿厢可能运行：请在轿厢停靠、开门时测试 / the door-open input is not active: "
                    "the car may move (test only with the car at a floor, door open)")
        return None

    def _test_voice(self, _args: NoArgs) -> dict[str, Any]:
        why = self._car_may_move()
        if why:
            raise CommandRefused(why)
        self.prompter.say_now(None)
        return {"prompts": [p.text for p in self.prompter.prompts_for(None)]}

    def _test_relay(self, _args: NoArgs) -> dict[str, Any]:
        why = self._car_may_move()
        if why:
            raise CommandRefused(why)
        if self.guard.block is not None:
            raise CommandRefused("正在阻止，继电器已保持开门 / a block is on: the relay is already holding the door")
        if self.guard.faults:
            raise CommandRefused(f"有故障（{', '.join(sorted(self.guard.faults))}），请先处理 / fault active "
                                 f"({', '.join(sorted(self.guard.faults))}): clear it first")
        if self.guard.inhibited():
            modes = self.guard.inhibited_modes()
            raise CommandRefused(f"电梯处于非正常运行（{'、'.join(m[0] for m in modes)}） / the lift is not in normal "
                                 f"service ({', '.join(m[1] for m in modes)}): fire-service, inspection or another "
                                 "mode input is active")
        self.guard.test_relay(self.cfg.test_relay_s)
        return {"seconds": self.cfg.test_relay_s, "readback": self.relay.readback()}

    # ------------------------------------------------------------------ views
    def state(self) -> str:
        return self.guard.state()

    def model_version(self) -> str | None:
        return self.detector.version if self.detector is not None else None

    def histograms(self) -> dict[str, Histogram]:
        return {"detect_seconds": self.loop.detect_hist} if self.loop is not None else {}

    def gauges(self) -> dict[str, Scalar]:
        v = self.guard.view()
        loop = self.loop
        g: dict[str, Scalar] = {
            "state": v["state"],
            "door_open": v["door_open"],
            "relay_on": v["relay_on"],
            "blocks": self.guard.blocks,
            "max_hold_releases": self.guard.releases["max_hold"],
            "staff_releases": self.guard.releases["remote"] + self.guard.releases["local"],
            "faults": ",".join(sorted(v["faults"])) or "",
            "paused": v["pause"] is not None,
            "last_latency_ms": self.guard.last_latency_ms,
            "classifier": self.classifier.version or "",
            "classifier_state": self.classifier.state,
        }
        if loop is not None:
            g["fps"] = round(loop.fps, 2)
            g["detect_ms_p50"] = loop.detect_ms_p50()
            g["frames"] = loop.pipeline.frames
            g["detector_runs"] = loop.pipeline.detections_run
            g["classifier_crops"] = loop.pipeline.second.crops_run if loop.pipeline.second is not None else 0
            # black / covered / frozen seen but not yet long enough for a fault: the guard is blind meanwhile
            g["camera_suspect"] = ",".join(loop.last.health.suspect) if loop.last is not None else ""
            g["lift_mode"] = ",".join(v["lift_modes"]) or "normal"
        return g

    def page_fragment(self, lang: Lang) -> str:
        loop = self.loop
        return page.render(lang, view=self.guard.view(), cfg=self.cfg, live=loop.live_jpeg if loop else None,
                           live_at=loop.live_at if loop else None, recent=self.evidence.recent(6),
                           model=self.detector.version if self.detector else None, model_error=self.model_error,
                           fps=loop.fps if loop else 0.0, detect_ms=loop.detect_ms_p50() if loop else None,
                           suspect=list(loop.last.health.suspect) if loop and loop.last else [],
                           classifier={"state": self.classifier.state, "version": self.classifier.version,
                                       "reason": self.classifier.reason})
