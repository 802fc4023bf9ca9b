"""The hold-door guard: the one place that decides whether the hold relay is energised.

Safety rules (design §7), enforced here after every change of anything (frame, door input, inhibit input,
command, timer, fault):

- the relay is energised only while a block is on **and** the door-open input is active **and** no fault is
  active **and** blocking is enabled (schedule, inhibit inputs) **and** not paused by staff;
- the door-open input going inactive (the car may move) drops the relay at once, from the input's own thread;
- a fault (camera lost / black / covered / frozen, detector, relay read-back mismatch) releases the relay;
- the longest hold (``max_hold_s``) releases it with an alarm, and blocking pauses (``max_hold_cooldown_s``, or
  until the car is clear) so that the lift is never trapped;
- staff can release it remotely or on the local page (audited by the command runner; a time-boxed pause);
- a process crash or hang drops it too: the agent's watchdog and the pins' own release on exit.

Every block gets an id; ``lift.block`` (with the snapshot) starts it and ``lift.release`` ends it with the reason
and the hold time.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from edge.apps.base import Emit
from edge.hal import Input, Relay
from edge.runtime.clock import Clock
from edge.vision import ClassMap, Region, Track, annotate, to_jpeg
from linli.contract import EventData, new_id
from linli.contract import lift_guard as ev
from linli.liftcls import crop

from .config import LIFT_MODE_NAMES, LiftGuardConfig
from .evidence import EvidenceStore
from .pipeline import FrameResult
from .schedule import enabled_at
from .voice import Prompter

#: Read-back must disagree this long before it is a fault (a relay contact settles in ~10 ms).
READBACK_SETTLE_S = 0.5
#: Faults that stay until staff reset them (the hardware needs a look).
LATCHING = frozenset({"relay_mismatch"})


@dataclass
class ActiveBlock:
    block_id: str
    cls: str
    label: str
    track_id: int
    started: float  # monotonic
    started_wall: datetime
    best_score: float


@dataclass
class Pause:
    until: float  # monotonic
    until_wall: datetime
    origin: str  # mqtt | local | max_hold
    by: str
    reason: str | None


class Guard:
    def __init__(self, cfg: LiftGuardConfig, relay: Relay, door: Input, inhibits: dict[str, Input],
                 prompter: Prompter, emit: Emit, evidence: EvidenceStore, clock: Clock,
                 logger: logging.Logger, model: str = "") -> None:
        self.cfg = cfg
        self.relay = relay
        self.door = door
        self.inhibits = inhibits
        self.prompter = prompter
        self.emit = emit
        self.evidence = evidence
        self.clock = clock
        self.log = logger
        self.model = model
        self.classifier: str | None = None  # version of the second-stage classifier running (None: detector only)
        self.classes = ClassMap(cfg.classes)
        self.region = Region(cfg.region)
        self._lock = threading.RLock()
        self.block: ActiveBlock | None = None
        self.pause: Pause | None = None
        self.faults: dict[str, tuple[float, str]] = {}
        self._test_until: float | None = None
        self._mismatch_since: float | None = None
        self._last_image: np.ndarray | None = None
        self._last_result: FrameResult | None = None
        self.seen_acting: list[Track] = []
        self.blocks = 0
        self.releases: Counter[str] = Counter()
        self.fault_count = 0
        self.last_latency_ms: float | None = None
        self.latencies_ms: list[float] = []

    # ------------------------------------------------------------------ conditions
    def door_open(self) -> bool:
        try:
            return self.door.is_active
        except Exception:  # a closed input (shutting down) is a closed door
            return False

    def inhibited(self) -> list[str]:
        out = []
        for name, inp in self.inhibits.items():
            try:
                if inp.is_active:
                    out.append(name)
            except Exception:
                out.append(name)
        return out

    def inhibited_modes(self) -> list[tuple[str, str]]:
        """(Chinese, English) names of the non-normal lift modes signalled now (an unreadable input included)."""
        return [LIFT_MODE_NAMES[self.cfg.mode_of(name)] for name in self.inhibited()]

    def scheduled(self) -> bool:
        return enabled_at(self.cfg.schedule, self.clock.now())

    def paused(self) -> bool:
        return self.pause is not None and self.clock.monotonic() < self.pause.until

    def _hold_veto(self) -> ev.ReleaseReason | None:
        """Why a block may not hold the door right now (None: it may)."""
        if not self.door_open():
            return "door_closed"
        if self.faults:
            return "fault"
        if self.inhibited():
            return "inhibit"
        if not self.scheduled():
            return "schedule"
        if self.pause is not None and self.paused():
            return {"mqtt": "remote", "local": "local"}.get(self.pause.origin, "max_hold")  # type: ignore[return-value]
        return None

    # ------------------------------------------------------------------ inputs
    def door_changed(self, _name: str, active: bool) -> None:
        """The door-open input changed (gpiozero's thread). Closing drops the relay before anything else."""
        if not active:
            self.relay.off()
        with self._lock:
            if not active:
                self._test_until = None
            self._enforce()

    def inhibit_changed(self, name: str, active: bool) -> None:
        """A lift-mode input changed (gpiozero's thread). A non-normal mode drops the relay before anything else."""
        if active:
            self.relay.off()
        with self._lock:
            if active:
                self._test_until = None
                if self.block is not None:
                    self._end_block("inhibit", note=f"{self.cfg.mode_of(name)}: {name}")
            self._enforce()

    def on_frame(self, res: FrameResult, image: np.ndarray) -> None:
        """The pipeline's verdict on one frame."""
        with self._lock:
            self._last_image = image
            self._last_result = res
            acting = res.acting(self.classes)
            self.seen_acting = acting
            if self.block is None:
                fresh = [t for t in acting if t.missed == 0] if res.detected else []
                if fresh and self._hold_veto() is None:
                    self._start_block(fresh[0], res, image)
            elif not acting:
                self._end_block("cleared")
            else:
                self.block.best_score = max(self.block.best_score, acting[0].best_score)
            if self.pause is not None and self.pause.origin == "max_hold" and res.detected and not acting:
                self._resume("clear", None)
            self._tick()

    def tick(self) -> None:
        """Timers: pause expiry, schedule, longest hold, voice repeat, relay read-back, test pulse."""
        with self._lock:
            self._tick()

    # ------------------------------------------------------------------ faults
    def set_fault(self, kind: ev.FaultKind, detail: str, luma: float | None = None,
                  contrast: float | None = None) -> None:
        with self._lock:
            if kind in self.faults:
                return
            held = self.relay.is_on
            self.faults[kind] = (self.clock.monotonic(), detail)
            self.fault_count += 1
            self.relay.off()
            if self.block is not None:
                self._end_block("fault", note=kind)
            self._emit(ev.Fault(fault=kind, detail=detail[:500], relay_released=held,
                                          luma=None if luma is None else round(luma, 1),
                                          contrast=None if contrast is None else round(contrast, 1)))
            self.log.error("fault %s: %s (relay released)", kind, detail)
            self._enforce()

    def clear_fault(self, kind: str, by: str | None = None) -> bool:
        with self._lock:
            if kind not in self.faults or (kind in LATCHING and by is None):
                return False
            since, _ = self.faults.pop(kind)
            if kind == "relay_mismatch":
                self._mismatch_since = None
            self._emit(ev.FaultCleared(fault=kind,  # type: ignore[arg-type]
                                                          duration_s=round(self.clock.monotonic() - since, 1)))
            self.log.info("fault %s cleared%s", kind, f" by {by}" if by else "")
            self._enforce()
            return True

    # ------------------------------------------------------------------ staff actions
    def release(self, by: str, origin: str, minutes: float, reason: str | None) -> dict[str, Any]:
        """Let the door go and pause blocking for ``minutes`` (remote or local release of a false alarm)."""
        with self._lock:
            now = self.clock.monotonic()
            released = None
            if self.block is not None:
                released = self.block.block_id
                self._end_block("remote" if origin == "mqtt" else "local", by=by, note=reason)
            self._set_pause(now, minutes * 60, origin, by, reason, released)
            self._enforce()
            assert self.pause is not None
            return {"released_block": released, "paused_until": self.pause.until_wall.isoformat(),
                    "minutes": minutes}

    def resume(self, by: str) -> dict[str, Any]:
        with self._lock:
            was = self.pause is not None
            if was:
                self._resume("command", by)
            self._enforce()
            return {"was_paused": was}

    def reconfigure(self, cfg: LiftGuardConfig) -> None:
        """Take new settings (remote config); the wiring does not change here (the app refuses that)."""
        with self._lock:
            self.cfg = cfg
            self.classes = ClassMap(cfg.classes)
            self.region = Region(cfg.region)
            self._enforce()

    def shutdown(self) -> None:
        """The agent is stopping: let the door go (reported as such) and keep the relay off."""
        self.relay.off()
        with self._lock:
            self._test_until = None
            self._end_block("shutdown")
            self.relay.off()

    def test_relay(self, seconds: float) -> None:
        """Energise the relay for ``seconds`` as a wiring test; only called once the app checked the door is open."""
        with self._lock:
            self._test_until = self.clock.monotonic() + seconds
            self._enforce()

    # ------------------------------------------------------------------ internals
    def _emit(self, data: EventData, blobs: list[bytes] | None = None) -> None:
        try:
            self.emit(data, blobs or [])
        except Exception:
            self.log.exception("could not queue event %s", data.EVENT.type)

    def _snapshot(self, image: np.ndarray | None, res: FrameResult | None, caption: str) -> bytes | None:
        if image is None:
            return None
        try:
            pic = annotate(image, res.detections if res else [], self.classes.acting, self.region, caption)
            return to_jpeg(pic, self.cfg.snapshots.quality, self.cfg.snapshots.max_width)
        except Exception:
            self.log.exception("snapshot failed")
            return None

    def _crop(self, image: np.ndarray, track: Track) -> bytes | None:
        """The blocking object's crop, undrawn (what the site labels and its classifier learns from)."""
        try:
            c = crop(image, track.box)
            return None if c is None else to_jpeg(c, self.cfg.snapshots.quality, self.cfg.snapshots.max_width)
        except Exception:
            self.log.exception("crop failed")
            return None

    def _start_block(self, track: Track, res: FrameResult, image: np.ndarray) -> None:
        now = self.clock.monotonic()
        b = ActiveBlock(block_id=new_id(), cls=track.cls, label=track.label, track_id=track.id, started=now,
                        started_wall=self.clock.now(), best_score=track.best_score)
        self.block = b
        # the relay goes on here, before the snapshot is encoded; a veto that arose meanwhile (the door closing at
        # this instant) ends the block only after it was reported and recorded (_tick → _enforce), in that order
        self._apply_relay()
        # latency: from the first frame the object was seen on the car floor (it crossed the sill), or from the
        # first frame it was seen at all when it was first seen already inside
        first = track.first_inside_ts if track.first_inside_ts is not None else track.first_ts
        latency = max(0.0, (now - first) * 1000)
        seen = max(latency, (now - track.first_ts) * 1000)
        self.last_latency_ms = round(latency, 1)
        self.latencies_ms = [*self.latencies_ms[-199:], latency]
        self.blocks += 1
        self.prompter.start(now, b.cls)
        caption = f"{b.started_wall.isoformat(timespec='seconds')} {b.cls} {track.score:.2f}"
        jpeg = self._snapshot(image, res, caption)
        crop_jpeg = self._crop(image, track)
        objects = [ev.SeenObject(cls=d.cls or d.label, label=d.label, score=min(1.0, d.score),
                                 box=d.normalised(res.width, res.height),
                                 track=next((t.id for t in res.tracks if t.detection is d), None))
                   for d in res.detections[:50]]
        data = ev.BlockStarted(block_id=b.block_id, cls=b.cls, label=b.label, score=min(1.0, track.score),
                               scores=[round(min(1.0, s), 4) for s in track.window],
                               track_s=round(max(0.0, track.last_ts - track.first_ts), 2),
                               latency_ms=round(latency, 1), seen_ms=round(seen, 1), objects=objects,
                               model=self.model[:200],
                               relay=self.relay.is_on, classifier=self.classifier, verdict=track.verdict,
                               crop=bool(jpeg and crop_jpeg))
        self._emit(data, ([jpeg, crop_jpeg] if crop_jpeg else [jpeg]) if jpeg else None)
        self.evidence.save_block(b.block_id, b.started_wall, jpeg, {**data.model_dump(mode="json"), "open": True})
        self.log.warning("block %s: %s %.2f (relay %s %.0f ms after it stood on the car floor, %.0f ms after first "
                         "sight)", b.block_id, b.cls, track.score, "on" if self.relay.is_on else "NOT on", latency,
                         seen)

    def _end_block(self, reason: ev.ReleaseReason, by: str | None = None, note: str | None = None) -> None:
        b = self.block
        if b is None:
            return
        self.block = None
        if self._test_until is None:
            self.relay.off()
        self.prompter.stop()
        hold = max(0.0, self.clock.monotonic() - b.started)
        self.releases[reason] += 1
        data = ev.BlockEnded(block_id=b.block_id, reason=reason, hold_s=round(hold, 2), cls=b.cls,
                             best_score=min(1.0, b.best_score), by=by[:64] if by else by,
                             note=note[:200] if note else None,
                             fault="max_hold" if reason == "max_hold" else None)
        blobs = None
        if reason == "max_hold":
            jpeg = self._snapshot(self._last_image, self._last_result,
                                  f"{self.clock.now().isoformat(timespec='seconds')} max hold {hold:.0f}s")
            blobs = [jpeg] if jpeg else None
        self._emit(data, blobs)
        self.evidence.update_block(b.block_id, b.started_wall, open=False, reason=reason, hold_s=round(hold, 2),
                                   by=by)
        self.log.info("release %s: %s after %.1f s%s", b.block_id, reason, hold, f" by {by}" if by else "")

    def _set_pause(self, now: float, seconds: float, origin: str, by: str, reason: str | None,
                   released: str | None) -> None:
        until_wall = self.clock.now() + timedelta(seconds=seconds)
        self.pause = Pause(now + seconds, until_wall, origin, by, reason)
        self._emit(ev.Suppressed(by=by[:64], origin=origin, until=until_wall,  # type: ignore[arg-type]
                                              minutes=round(seconds / 60, 2), reason=reason[:200] if reason else None,
                                              released_block=released))

    def _resume(self, why: str, by: str | None) -> None:
        if self.pause is None:
            return
        self.pause = None
        self._emit(ev.Resumed(why=why, by=by[:64] if by else by))  # type: ignore[arg-type]

    def _tick(self) -> None:
        now = self.clock.monotonic()
        if self.pause is not None and now >= self.pause.until:
            self._resume("expired", None)
        if self.block is not None and now - self.block.started >= self.cfg.max_hold_s:
            self._end_block("max_hold")
            if self.cfg.max_hold_cooldown_s > 0:
                self._set_pause(now, self.cfg.max_hold_cooldown_s, "max_hold", "guard", "longest hold reached",
                                None)
        if self._test_until is not None and now >= self._test_until:
            self._test_until = None
        self._check_readback(now)
        if self.block is not None and self.relay.is_on:
            self.prompter.tick(now)
        self._enforce()

    def _check_readback(self, now: float) -> None:
        try:
            mismatch = self.relay.readback_mismatch()
        except Exception:
            mismatch = False
        if not mismatch:
            self._mismatch_since = None
            return
        if self._mismatch_since is None:
            self._mismatch_since = now
        elif now - self._mismatch_since >= READBACK_SETTLE_S and "relay_mismatch" not in self.faults:
            rb = self.relay.readback()
            state = "on" if self.relay.is_on else "off"
            self.set_fault("relay_mismatch", f"relay '{self.relay.name}' commanded {state}"
                           f" but its contact reads {'closed' if rb else 'open'} (welded contact or open coil?)")

    def _enforce(self) -> None:
        """End a block that may no longer hold, then set the relay to what the rules allow."""
        veto = self._hold_veto()
        if self.block is not None and veto is not None:
            self._end_block(veto, note=", ".join(f"{self.cfg.mode_of(n)}: {n}" for n in self.inhibited())
                            if veto == "inhibit" else None)
        self._apply_relay()

    def _apply_relay(self) -> None:
        """Set the relay to what the rules allow now: on only with the door open, no fault, no inhibit input, and a
        block (or a wiring test) on."""
        door = self.door_open()
        want = (door and not self.faults and not self.inhibited()
                and (self.block is not None or self._test_until is not None))
        if want and not self.relay.is_on:
            self.relay.on()
        elif not want and self.relay.is_on:
            self.relay.off()

    # ------------------------------------------------------------------ views
    def state(self) -> str:
        with self._lock:
            if self.faults:
                return "fault"
            if self.inhibited() or not self.scheduled():
                return "disabled"
            if self.block is not None and self.relay.is_on:
                return "blocking"
            if self.paused():
                return "paused"
            return "watching" if self.door_open() else "idle"

    def view(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock.monotonic()
            b = self.block
            return {
                "state": self.state(),
                "door_open": self.door_open(),
                "relay_on": self.relay.is_on,
                "readback": self.relay.readback(),
                "block": None if b is None else {"id": b.block_id, "cls": b.cls, "hold_s": round(now - b.started, 1),
                                                 "best_score": round(b.best_score, 3),
                                                 "started": b.started_wall},
                "pause": None if self.pause is None else {"until": self.pause.until_wall, "by": self.pause.by,
                                                          "origin": self.pause.origin, "reason": self.pause.reason},
                "faults": {k: d for k, (_, d) in self.faults.items()},
                "inhibited": self.inhibited(),
                "lift_modes": [self.cfg.mode_of(n) for n in self.inhibited()],
                "scheduled": self.scheduled(),
                "seen": [(t.cls, round(t.best_score, 2)) for t in self.seen_acting],
            }
