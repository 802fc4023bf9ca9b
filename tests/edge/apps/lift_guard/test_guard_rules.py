"""The lift guard's relay decision, exactly: a fake clock, the real Relay and Input on gpiozero's mock pins, pipeline
verdicts made by hand (no video, no detector, no broker). Inhibit inputs (an unreadable one inhibits), staff
release and resume, the longest hold and its pause, door drop while held, faults and read-back, and the rule that
the relay is on only with the door open and the lift in normal service — each boundary decided on purpose."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.apps.lift_guard.config import LiftGuardConfig
from edge.apps.lift_guard.evidence import EvidenceStore
from edge.apps.lift_guard.guard import READBACK_SETTLE_S, Guard
from edge.apps.lift_guard.pipeline import FrameResult
from edge.apps.lift_guard.voice import Prompter
from edge.hal.config import InputConfig, RelayConfig, SpeakerConfig
from edge.hal.pins import setup_pin_factory
from edge.hal.relay import Input, Relay
from edge.hal.sim import PinBoard
from edge.hal.speaker import Speaker
from edge.runtime.clock import Clock
from edge.vision import HealthState, Track
from linli.contract import EventData
from linli.contract import lift_guard as ev

#: a mutation run (make mutate) runs these tests once per mutant: fewer property examples there
MUTATION_RUN = "MUTANT_UNDER_TEST" in os.environ
# mock pins of this module (released after every test)
DOOR, FIRE, INSPECTION, RELAY, READBACK = 20, 21, 22, 23, 24
T0 = 1000.0
WALL0 = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Saturday


class FakeClock(Clock):
    def __init__(self) -> None:
        self.t = T0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return WALL0 + timedelta(seconds=self.t - T0)

    def time(self) -> float:
        return self.now().timestamp()


@dataclass
class Rig:
    guard: Guard
    relay: Relay
    door: Input
    inhibits: dict[str, Input]
    board: PinBoard
    clock: FakeClock
    speaker: Speaker
    events: list[tuple[EventData, list[bytes]]] = field(default_factory=list)
    seq: int = 0
    healthy_contact: bool = True  # the read-back contact follows the coil (tests of a bad relay turn it off)
    cleanup: ExitStack = field(default_factory=ExitStack)

    # the lift controller's side of the pins
    def door_open(self) -> None:
        self.board.set_input(DOOR, False)  # pull-up: contact closed = active

    def door_close(self) -> None:
        self.board.set_input(DOOR, True)

    def mode(self, pin: int, active: bool) -> None:
        self.board.set_input(pin, active)  # pull-up, active_state high: the contact opens in the mode

    def advance(self, seconds: float) -> None:
        self.clock.t += seconds
        self.guard.tick()
        if self.healthy_contact:
            follow_readback(self)

    def frame(self, *tracks: Track, detected: bool = True) -> None:
        self.seq += 1
        res = FrameResult(seq=self.seq, ts=self.clock.t, width=64, height=48, health=HealthState(),
                          detected=detected, tracks=list(tracks))
        self.guard.on_frame(res, np.zeros((48, 64, 3), np.uint8))

    def of(self, kind: type[EventData]) -> list[Any]:
        return [d for d, _ in self.events if isinstance(d, kind)]

    def kinds(self) -> list[str]:
        return [type(d).__name__ for d, _ in self.events]

    @property
    def relay_pin_high(self) -> bool:
        return self.board.output_level(RELAY)


def bike(tid: int = 1, score: float = 0.9, *, cls: str = "ebike", missed: int = 0, inside: bool = True,
         confirmed: bool = True, age_s: float = 1.0, inside_s: float | None = 0.4,
         best: float | None = None) -> Track:
    now = T0  # tracks are made relative to the start; latency is checked against the fake clock
    return Track(id=tid, cls=cls, label="motorcycle", box=(10.0, 10.0, 30.0, 40.0), score=score,
                 first_ts=now - age_s, last_ts=now, window=deque([score * 0.5, score]),
                 best_score=score if best is None else best, missed=missed,
                 confirmed_ts=now if confirmed else None, inside=inside,
                 first_inside_ts=None if inside_s is None else now - inside_s)


def make_rig(tmp_path: Path, **over: Any) -> Rig:
    """A guard on its pins; every part is released by :func:`close_rig`, and at once if building fails (pins
    left claimed would break every later test in this process)."""
    cfg = LiftGuardConfig.model_validate({
        "inhibit_inputs": [{"input": "fire", "mode": "fire_recall"}, {"input": "inspection", "mode": "inspection"}],
        "max_hold_s": 60, "max_hold_cooldown_s": 30, **over})
    setup_pin_factory("mock")
    with ExitStack() as stack:
        board = PinBoard()
        relay = Relay("door_hold", RelayConfig(pin=RELAY, readback_pin=READBACK))
        stack.callback(relay.close)
        door = Input("door_open", InputConfig(pin=DOOR, pull_up=True, bounce_ms=0))
        stack.callback(door.close)
        inhibits = {}
        for name, pin in (("fire", FIRE), ("inspection", INSPECTION)):
            inhibits[name] = Input(name, InputConfig(pin=pin, pull_up=True, active_state=True, bounce_ms=0))
            stack.callback(inhibits[name].close)
        speaker = Speaker(SpeakerConfig(backend="record"))
        stack.callback(speaker.close)
        clock = FakeClock()
        rig_events: list[tuple[EventData, list[bytes]]] = []
        guard = Guard(cfg, relay, door, inhibits, Prompter(cfg.voice, speaker),
                      lambda data, blobs: rig_events.append((data, blobs)), EvidenceStore(tmp_path / "snap", 30),
                      clock, logging.getLogger("test.lift"), model="ssd-test")
        rig = Rig(guard, relay, door, inhibits, board, clock, speaker, rig_events)
        coil_on, coil_off = relay.on, relay.off

        def on() -> None:  # a healthy relay's contact follows its coil (within ms: at once here)
            coil_on()
            if rig.healthy_contact:
                follow_readback(rig)

        def off() -> None:
            coil_off()
            if rig.healthy_contact:
                follow_readback(rig)

        relay.on, relay.off = on, off  # type: ignore[method-assign]
        door.on_change(guard.door_changed)
        for inp in inhibits.values():
            inp.on_change(guard.inhibit_changed)
        for pin in (FIRE, INSPECTION):
            board.set_input(pin, False)  # normal service
        board.set_input(READBACK, False)  # read-back contact open
        rig.door_close()
        rig.cleanup = stack.pop_all()
    return rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    yield r
    close_rig(r)


def close_rig(r: Rig) -> None:
    r.cleanup.close()


def follow_readback(r: Rig) -> None:
    """The relay's contact follows the coil (a healthy relay)."""
    r.board.set_input(READBACK, r.relay.is_on)  # pulled down, high = contact closed


def start_block(r: Rig, **kw: Any) -> ev.BlockStarted:
    r.door_open()
    r.frame(bike(**kw))
    follow_readback(r)
    started = r.of(ev.BlockStarted)
    assert started and r.relay.is_on
    return started[-1]


# ------------------------------------------------------------------------------------------------ starting a block
def test_a_fresh_confirmed_bike_on_the_floor_with_the_door_open_holds_the_door(rig: Rig) -> None:
    rig.door_open()
    assert rig.guard.state() == "watching" and not rig.relay.is_on
    rig.frame(bike(score=0.9))
    assert rig.relay.is_on and rig.relay_pin_high
    follow_readback(rig)
    [b] = rig.of(ev.BlockStarted)
    assert (b.cls, b.label, b.score, b.relay, b.model) == ("ebike", "motorcycle", 0.9, True, "ssd-test")
    assert b.latency_ms == 400.0 and b.seen_ms == 1000.0 and b.track_s == 1.0
    assert b.scores == [0.45, 0.9]
    assert rig.guard.blocks == 1 and rig.guard.last_latency_ms == 400.0
    assert rig.guard.latencies_ms == [pytest.approx(400.0)]
    assert rig.guard.state() == "blocking"
    assert rig.guard.block is not None and rig.guard.block.block_id == b.block_id
    assert rig.speaker.history, "the warning is spoken at once"
    [(_, blobs)] = [(d, bl) for d, bl in rig.events if isinstance(d, ev.BlockStarted)]
    assert len(blobs) == 2 and blobs[0][:2] == b"\xff\xd8", "the block's snapshot (JPEG) goes with it"
    assert b.crop and blobs[1][:2] == b"\xff\xd8", "and the object's crop, undrawn (what a site labels)"
    v = rig.guard.view()
    assert v["state"] == "blocking" and v["relay_on"] is True and v["door_open"] is True
    assert v["block"]["id"] == b.block_id and v["block"]["cls"] == "ebike" and v["block"]["hold_s"] == 0.0
    assert v["seen"] == [("ebike", 0.9)] and v["faults"] == {} and v["inhibited"] == []


def test_latency_falls_back_to_first_sight_and_never_goes_negative(rig: Rig) -> None:
    rig.door_open()
    rig.frame(bike(inside_s=None, age_s=0.7))
    [b] = rig.of(ev.BlockStarted)
    assert b.latency_ms == 700.0 and b.seen_ms == 700.0
    rig.guard.shutdown()
    rig.frame(bike(tid=2, inside_s=-0.5, age_s=-0.2))  # clock skew: seen "after" now
    b2 = rig.of(ev.BlockStarted)[-1]
    assert b2.latency_ms == 0.0 and b2.seen_ms == 0.0 and b2.track_s == 0.0


@pytest.mark.parametrize("track, detected", [
    (bike(missed=1), True),  # not seen in this frame: not fresh
    (bike(), False),  # the detector did not look at this frame
    (bike(confirmed=False), True),
    (bike(inside=False), True),  # still on the landing
    (bike(cls="person"), True),  # not a blocking class
])
def test_no_block_without_a_fresh_confirmed_acting_track(rig: Rig, track: Track, detected: bool) -> None:
    rig.door_open()
    rig.frame(track, detected=detected)
    assert not rig.relay.is_on and rig.guard.block is None and not rig.of(ev.BlockStarted)


def test_the_best_acting_track_starts_the_block(rig: Rig) -> None:
    rig.door_open()
    rig.frame(bike(tid=1, score=0.6), bike(tid=2, score=0.8))
    assert rig.guard.block is not None and rig.guard.block.track_id == 2


def test_no_block_and_no_relay_with_the_door_closed(rig: Rig) -> None:
    rig.frame(bike())
    assert not rig.relay.is_on and rig.guard.block is None
    assert rig.guard.state() == "idle" and rig.guard.view()["door_open"] is False


# ------------------------------------------------------------------------------------------------ ending a block
def test_cleared_when_no_acting_object_is_left_with_hold_time_and_best_score(rig: Rig) -> None:
    b = start_block(rig, score=0.7)
    rig.clock.t += 4.25
    rig.frame(bike(score=0.95, best=0.95))
    assert rig.guard.block is not None and rig.guard.block.best_score == 0.95
    rig.frame(bike(score=0.5, best=0.5))
    assert rig.guard.block is not None and rig.guard.block.best_score == 0.95, "the best score is kept"
    rig.frame(bike(cls="person"))
    assert not rig.relay.is_on and rig.guard.block is None
    [e] = rig.of(ev.BlockEnded)
    assert (e.block_id, e.reason, e.hold_s, e.best_score, e.cls, e.by, e.fault) == (
        b.block_id, "cleared", 4.25, 0.95, "ebike", None, None)
    assert rig.guard.releases == {"cleared": 1}
    assert rig.guard.state() == "watching"


def test_door_closing_while_held_drops_the_relay_at_once_and_ends_the_block(rig: Rig) -> None:
    b = start_block(rig)
    rig.clock.t += 2
    rig.door_close()  # the input's own callback, no tick, no frame
    assert not rig.relay.is_on and not rig.relay_pin_high
    [e] = rig.of(ev.BlockEnded)
    assert (e.block_id, e.reason, e.hold_s) == (b.block_id, "door_closed", 2.0)
    rig.frame(bike())  # still there, door still closed: nothing starts
    assert not rig.relay.is_on and len(rig.of(ev.BlockStarted)) == 1
    rig.door_open()  # next floor, bike still inside: a fresh frame holds again
    rig.frame(bike())
    assert rig.relay.is_on and len(rig.of(ev.BlockStarted)) == 2


def test_the_door_callback_drops_the_relay_even_when_the_guard_is_busy(rig: Rig) -> None:
    start_block(rig)
    with rig.guard._lock:  # another thread holds the guard (a frame being processed)
        t = threading.Thread(target=rig.guard.door_changed, args=("door_open", False), daemon=True)
        t.start()
        deadline = time.monotonic() + 5
        while rig.relay.is_on and time.monotonic() < deadline:
            time.sleep(0.001)
        assert not rig.relay.is_on, "the relay dropped before the guard's lock was taken"
        assert t.is_alive(), "the callback is still waiting for the guard"
    t.join(5)


# ------------------------------------------------------------------------------------------------ lift modes
def test_an_inhibit_input_drops_the_relay_and_ends_the_block_with_the_mode(rig: Rig) -> None:
    b = start_block(rig)
    rig.mode(FIRE, True)
    assert not rig.relay.is_on
    [e] = rig.of(ev.BlockEnded)
    assert (e.block_id, e.reason, e.note) == (b.block_id, "inhibit", "fire_recall: fire")
    assert rig.guard.inhibited() == ["fire"] and rig.guard.inhibited_modes() == [("消防返回/消防运行",
                                                                                  "fire recall / fire service")]
    assert rig.guard.state() == "disabled" and rig.guard.view()["lift_modes"] == ["fire_recall"]
    rig.frame(bike())
    assert not rig.relay.is_on and len(rig.of(ev.BlockStarted)) == 1
    rig.mode(FIRE, False)
    assert rig.guard.inhibited() == [] and rig.guard.state() == "watching"
    rig.frame(bike())
    assert rig.relay.is_on


def test_an_inhibit_during_a_wiring_test_pulse_ends_the_pulse(rig: Rig) -> None:
    rig.door_open()
    rig.guard.test_relay(5)
    assert rig.relay.is_on
    rig.mode(INSPECTION, True)
    assert not rig.relay.is_on
    rig.mode(INSPECTION, False)
    assert not rig.relay.is_on, "the pulse was cancelled, not paused"


def test_an_inhibit_input_that_cannot_be_read_inhibits(rig: Rig) -> None:
    rig.door_open()
    rig.inhibits["inspection"].close()  # driver error / closed input: is_active raises
    assert rig.guard.inhibited() == ["inspection"]
    assert rig.guard.inhibited_modes() == [("检修运行", "inspection")]
    rig.frame(bike())
    assert not rig.relay.is_on and rig.guard.block is None
    assert rig.guard.state() == "disabled"


def test_an_inhibit_input_lost_while_held_ends_the_block(rig: Rig) -> None:
    start_block(rig)
    rig.inhibits["fire"].close()  # no callback comes: the next tick must notice
    rig.advance(0.1)
    assert not rig.relay.is_on
    [e] = rig.of(ev.BlockEnded)
    assert e.reason == "inhibit" and e.note == "fire_recall: fire"


def test_an_unlisted_inhibit_name_is_mode_other(tmp_path: Path) -> None:
    r = make_rig(tmp_path, inhibit_inputs=["fire"])
    try:
        r.inhibits["inspection"].close()  # wired but not listed in the config: the guard still checks it
        assert r.guard.inhibited_modes() == [("非正常运行", "non-normal mode")]
    finally:
        close_rig(r)


def test_a_door_input_that_cannot_be_read_is_a_closed_door(rig: Rig) -> None:
    start_block(rig)
    rig.door.close()
    rig.advance(0.1)
    assert not rig.relay.is_on and rig.of(ev.BlockEnded)[0].reason == "door_closed"


# ------------------------------------------------------------------------------------------------ schedule
def test_outside_the_schedule_nothing_holds(tmp_path: Path) -> None:
    # 10:00 Shanghai; the window is the evening only
    r = make_rig(tmp_path, schedule={"windows": [{"start": "18:00", "end": "22:00"}]})
    try:
        r.door_open()
        r.frame(bike())
        assert not r.relay.is_on and r.guard.state() == "disabled" and r.guard.view()["scheduled"] is False
    finally:
        close_rig(r)


def test_a_block_ends_when_the_schedule_window_closes(tmp_path: Path) -> None:
    r = make_rig(tmp_path, schedule={"windows": [{"start": "09:00", "end": "10:01"}]}, max_hold_s=600)
    try:
        start_block(r)
        r.advance(59)
        assert r.relay.is_on
        r.advance(1)  # 10:01 exactly: the window has ended
        assert not r.relay.is_on and r.of(ev.BlockEnded)[0].reason == "schedule"
    finally:
        close_rig(r)


# ------------------------------------------------------------------------------------------------ longest hold
def test_the_longest_hold_releases_at_exactly_max_hold_and_pauses(rig: Rig) -> None:
    b = start_block(rig)
    rig.advance(59.99)
    assert rig.relay.is_on and rig.guard.block is not None
    rig.advance(0.01)  # 60 s: >= max_hold_s
    assert not rig.relay.is_on and rig.guard.block is None
    [e] = rig.of(ev.BlockEnded)
    assert (e.block_id, e.reason, e.fault, e.hold_s) == (b.block_id, "max_hold", "max_hold", 60.0)
    assert e.event_severity() == "alarm"
    [(_, blobs)] = [(d, bl) for d, bl in rig.events if isinstance(d, ev.BlockEnded)]
    assert len(blobs) == 1 and blobs[0][:2] == b"\xff\xd8", "the last picture goes with the alarm"
    [s] = rig.of(ev.Suppressed)
    assert (s.origin, s.by, s.minutes, s.reason, s.released_block) == (
        "max_hold", "guard", 0.5, "longest hold reached", None)
    assert s.until == WALL0 + timedelta(seconds=90)
    assert rig.guard.paused() and rig.guard.state() == "paused"
    rig.frame(bike())  # the bike is still there: no new block during the pause (the lift is not trapped)
    assert not rig.relay.is_on and len(rig.of(ev.BlockStarted)) == 1


def test_the_pause_after_the_longest_hold_ends_when_the_car_is_clear(rig: Rig) -> None:
    start_block(rig)
    rig.advance(60)
    rig.frame(bike(), detected=False)  # a frame the detector did not look at proves nothing
    assert rig.guard.pause is not None
    rig.frame(bike(cls="person"))  # looked, no e-bike: clear
    assert rig.guard.pause is None
    [r] = rig.of(ev.Resumed)
    assert (r.why, r.by) == ("clear", None)
    rig.frame(bike(tid=3))
    assert rig.relay.is_on, "blocking works again at once"


def test_the_pause_after_the_longest_hold_expires_at_the_cooldown(rig: Rig) -> None:
    start_block(rig)
    rig.advance(60)
    rig.advance(29.99)
    assert rig.guard.paused()
    rig.advance(0.01)
    assert not rig.guard.paused() and rig.guard.pause is None
    assert [r.why for r in rig.of(ev.Resumed)] == ["expired"]


def test_no_cooldown_means_no_pause_after_the_longest_hold(tmp_path: Path) -> None:
    r = make_rig(tmp_path, max_hold_cooldown_s=0)
    try:
        start_block(r)
        r.advance(60)
        assert r.guard.pause is None and not r.of(ev.Suppressed)
        r.frame(bike())
        assert r.relay.is_on and len(r.of(ev.BlockStarted)) == 2
    finally:
        close_rig(r)


def test_a_clear_frame_does_not_end_a_staff_pause(rig: Rig) -> None:
    rig.door_open()
    rig.guard.release("op", "mqtt", 5, None)
    rig.frame(bike(cls="person"))
    assert rig.guard.pause is not None and not rig.of(ev.Resumed)


def test_reconfigure_applies_a_new_longest_hold(rig: Rig) -> None:
    start_block(rig)
    rig.guard.reconfigure(rig.guard.cfg.model_copy(update={"max_hold_s": 10.0}))
    rig.advance(10)
    assert rig.of(ev.BlockEnded)[0].reason == "max_hold"


# ------------------------------------------------------------------------------------------------ staff
@pytest.mark.parametrize("origin, reason", [("mqtt", "remote"), ("local", "local")])
def test_staff_release_ends_the_block_and_pauses_for_the_minutes(rig: Rig, origin: str, reason: str) -> None:
    b = start_block(rig)
    rig.clock.t += 3
    out = rig.guard.release("王工", origin, 5, "false alarm: pram")
    assert not rig.relay.is_on
    assert out == {"released_block": b.block_id, "paused_until": (WALL0 + timedelta(seconds=303)).isoformat(),
                   "minutes": 5}
    [e] = rig.of(ev.BlockEnded)
    assert (e.reason, e.by, e.note, e.hold_s) == (reason, "王工", "false alarm: pram", 3.0)
    [s] = rig.of(ev.Suppressed)
    assert (s.origin, s.by, s.minutes, s.released_block, s.reason) == (origin, "王工", 5.0, b.block_id,
                                                                       "false alarm: pram")
    assert rig.guard.state() == "paused"
    assert rig.guard._hold_veto() == reason
    rig.frame(bike(tid=5))
    assert not rig.relay.is_on
    v = rig.guard.view()
    assert v["pause"] == {"until": WALL0 + timedelta(seconds=303), "by": "王工", "origin": origin,
                          "reason": "false alarm: pram"}


def test_release_without_a_block_only_pauses(rig: Rig) -> None:
    out = rig.guard.release("op", "local", 0.5, None)
    assert out["released_block"] is None and out["minutes"] == 0.5
    assert not rig.of(ev.BlockEnded)
    assert rig.of(ev.Suppressed)[0].minutes == 0.5


def test_resume_really_resumes(rig: Rig) -> None:
    rig.door_open()
    rig.guard.release("op", "mqtt", 10, None)
    rig.frame(bike())
    assert not rig.relay.is_on
    assert rig.guard.resume("值班") == {"was_paused": True}
    assert rig.guard.pause is None and not rig.guard.paused()
    [r] = rig.of(ev.Resumed)
    assert (r.why, r.by) == ("command", "值班")
    rig.frame(bike())
    assert rig.relay.is_on, "blocking works again right after the resume"
    assert rig.guard.state() == "blocking"


def test_resume_when_not_paused_says_so_and_emits_nothing(rig: Rig) -> None:
    assert rig.guard.resume("op") == {"was_paused": False}
    assert not rig.of(ev.Resumed)


def test_staff_pause_expires_exactly_at_its_end(rig: Rig) -> None:
    rig.door_open()
    rig.guard.release("op", "local", 1, None)
    rig.advance(59.99)
    assert rig.guard.paused() and rig.guard.state() == "paused"
    rig.clock.t += 0.01  # 60 s: over, even before a tick notices
    assert not rig.guard.paused()
    rig.frame(bike())
    assert rig.relay.is_on
    assert [r.why for r in rig.of(ev.Resumed)] == ["expired"]


def test_a_max_hold_pause_vetoes_as_max_hold(rig: Rig) -> None:
    start_block(rig)
    rig.advance(60)
    assert rig.guard._hold_veto() == "max_hold"


# ------------------------------------------------------------------------------------------------ faults
def test_a_fault_releases_the_relay_and_ends_the_block(rig: Rig) -> None:
    b = start_block(rig)
    rig.guard.set_fault("black", "picture black", luma=3.14159, contrast=0.049)
    assert not rig.relay.is_on
    [f] = rig.of(ev.Fault)
    assert (f.fault, f.detail, f.relay_released, f.luma, f.contrast) == ("black", "picture black", True, 3.1, 0.0)
    [e] = rig.of(ev.BlockEnded)
    assert (e.block_id, e.reason, e.note) == (b.block_id, "fault", "black")
    assert rig.guard.state() == "fault" and rig.guard.fault_count == 1
    assert rig.guard.view()["faults"] == {"black": "picture black"}
    rig.guard.set_fault("black", "again")  # the same fault again: no second event
    assert rig.guard.fault_count == 1 and len(rig.of(ev.Fault)) == 1
    rig.frame(bike())
    assert not rig.relay.is_on
    rig.clock.t += 7.25
    assert rig.guard.clear_fault("black") is True
    [c] = rig.of(ev.FaultCleared)
    assert (c.fault, c.duration_s) == ("black", 7.2)
    assert rig.guard.clear_fault("black") is False
    rig.frame(bike())
    assert rig.relay.is_on


def test_a_fault_while_idle_reports_the_relay_was_not_released(rig: Rig) -> None:
    rig.guard.set_fault("camera_lost", "x" * 600)
    [f] = rig.of(ev.Fault)
    assert f.relay_released is False and len(f.detail) == 500 and f.luma is None and f.contrast is None


def test_relay_mismatch_latches_until_staff_clear_it(rig: Rig) -> None:
    rig.guard.set_fault("relay_mismatch", "welded")
    assert rig.guard.clear_fault("relay_mismatch") is False
    assert rig.guard.faults
    assert rig.guard.clear_fault("relay_mismatch", by="维修") is True
    assert not rig.guard.faults and rig.of(ev.FaultCleared)[0].fault == "relay_mismatch"


def test_readback_mismatch_becomes_a_fault_after_the_settle_time(rig: Rig) -> None:
    start_block(rig)
    rig.healthy_contact = False
    rig.board.set_input(READBACK, False)  # commanded on, contact reads open (open coil)
    rig.advance(0.0)
    rig.advance(READBACK_SETTLE_S - 0.01)
    assert not rig.guard.faults and rig.relay.is_on
    rig.advance(0.01)
    assert "relay_mismatch" in rig.guard.faults and not rig.relay.is_on
    [f] = rig.of(ev.Fault)
    assert f.detail == ("relay 'door_hold' commanded on but its contact reads open (welded contact or open coil?)")
    assert rig.of(ev.BlockEnded)[0].reason == "fault"


def test_a_mismatch_that_settles_in_time_is_no_fault(rig: Rig) -> None:
    start_block(rig)
    rig.healthy_contact = False
    rig.board.set_input(READBACK, False)
    rig.advance(0.0)
    rig.advance(0.3)
    follow_readback(rig)
    rig.advance(0.0)  # agrees again: the timer restarts
    rig.board.set_input(READBACK, False)
    rig.advance(0.3)
    rig.advance(0.3)
    assert not rig.guard.faults


def test_a_welded_contact_after_release_is_reported_closed(rig: Rig) -> None:
    start_block(rig)
    rig.healthy_contact = False
    rig.door_close()
    rig.board.set_input(READBACK, True)  # contact still closed after the coil dropped
    rig.advance(0)
    rig.advance(READBACK_SETTLE_S)
    [f] = rig.of(ev.Fault)
    assert f.detail.startswith("relay 'door_hold' commanded off but its contact reads closed")
    assert f.relay_released is False


def test_a_readback_that_raises_is_not_a_mismatch(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    start_block(rig)

    def broken() -> bool:
        raise OSError("bus error")

    monkeypatch.setattr(rig.relay, "readback_mismatch", broken)
    rig.advance(0)
    rig.advance(5)
    assert not rig.guard.faults and rig.relay.is_on


# ------------------------------------------------------------------------------------------------ relay test, shutdown
def test_wiring_test_pulse_holds_for_its_seconds_only(rig: Rig) -> None:
    rig.door_open()
    rig.guard.test_relay(1.5)
    assert rig.relay.is_on and rig.guard.block is None
    rig.advance(1.49)
    assert rig.relay.is_on
    rig.advance(0.01)
    assert not rig.relay.is_on and rig.guard._test_until is None


def test_wiring_test_pulse_never_with_the_door_closed(rig: Rig) -> None:
    rig.guard.test_relay(2)
    assert not rig.relay.is_on
    rig.door_open()
    assert rig.relay.is_on  # the pulse window is still running
    rig.door_close()
    assert not rig.relay.is_on and rig.guard._test_until is None
    rig.door_open()
    assert not rig.relay.is_on, "closing the door ended the pulse"


def test_a_block_ending_during_a_wiring_test_keeps_the_pulse(rig: Rig) -> None:
    start_block(rig)
    rig.guard.test_relay(3)
    rig.frame()  # clear
    assert rig.of(ev.BlockEnded)[0].reason == "cleared"
    assert rig.relay.is_on, "the wiring test still runs"
    rig.advance(3)
    assert not rig.relay.is_on


def test_shutdown_releases_and_reports_it(rig: Rig) -> None:
    b = start_block(rig)
    rig.guard.test_relay(10)
    rig.guard.shutdown()
    assert not rig.relay.is_on and rig.guard._test_until is None
    [e] = rig.of(ev.BlockEnded)
    assert (e.block_id, e.reason) == (b.block_id, "shutdown")
    rig.guard.shutdown()  # twice is harmless
    assert len(rig.of(ev.BlockEnded)) == 1


# ------------------------------------------------------------------------------------------------ voice, events
def test_the_warning_repeats_while_held_and_stops_with_the_block(rig: Rig) -> None:
    start_block(rig)
    said = rig.guard.prompter.spoken
    rig.advance(9.99)
    assert rig.guard.prompter.spoken == said
    rig.advance(0.01)
    assert rig.guard.prompter.spoken == said + 1
    rig.frame()
    assert not rig.guard.prompter.active
    rig.advance(20)
    assert rig.guard.prompter.spoken == said + 1


def test_an_emit_failure_does_not_stop_the_guard(rig: Rig) -> None:
    def refuse(_data: EventData, _blobs: list[bytes]) -> None:
        raise OSError("disk full")

    rig.guard.emit = refuse
    rig.door_open()
    rig.frame(bike())
    assert rig.relay.is_on
    rig.door_close()
    assert not rig.relay.is_on and rig.guard.block is None


def test_view_of_an_idle_guard(rig: Rig) -> None:
    v = rig.guard.view()
    assert v == {"state": "idle", "door_open": False, "relay_on": False, "readback": False, "block": None,
                 "pause": None, "faults": {}, "inhibited": [], "lift_modes": [], "scheduled": True, "seen": []}


# -------------------------------------------------------------------------------------------- the rule, as a property
STEP = st.sampled_from(["door_open", "door_close", "fire_on", "fire_off", "bike", "clear", "tick", "long_tick",
                        "release", "resume", "fault", "clear_fault", "test"])


@settings(max_examples=25 if MUTATION_RUN else 60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=25))
def test_the_relay_is_on_only_with_the_door_open_in_normal_service_without_fault(
        tmp_path: Path, steps: list[str]) -> None:
    r = make_rig(tmp_path)
    try:
        for s in steps:
            {"door_open": r.door_open, "door_close": r.door_close,
             "fire_on": lambda: r.mode(FIRE, True), "fire_off": lambda: r.mode(FIRE, False),
             "bike": lambda: r.frame(bike()), "clear": lambda: r.frame(),
             "tick": lambda: r.advance(1), "long_tick": lambda: r.advance(45),
             "release": lambda: r.guard.release("op", "mqtt", 1, None), "resume": lambda: r.guard.resume("op"),
             "fault": lambda: r.guard.set_fault("frozen", "frozen"),
             "clear_fault": lambda: r.guard.clear_fault("frozen"),
             "test": lambda: r.guard.test_relay(1)}[s]()
            follow_readback(r)
            if r.relay.is_on:
                assert r.door.is_active and not r.guard.inhibited() and not r.guard.faults
                assert r.guard.block is not None or r.guard._test_until is not None
            if r.guard.block is not None:
                assert r.relay.is_on, "a block always holds the door"
                assert not r.guard.paused() and r.guard.scheduled()
            assert r.relay_pin_high == r.relay.is_on
        started = len(r.of(ev.BlockStarted))
        assert len(r.of(ev.BlockEnded)) in (started, started - 1)
    finally:
        close_rig(r)


# ------------------------------------------------------------------------------------------------ exact figures
def test_view_rounds_hold_and_scores_exactly(rig: Rig) -> None:
    start_block(rig, score=0.87654)
    rig.clock.t += 3.14159
    v = rig.guard.view()
    assert v["block"]["hold_s"] == 3.1 and v["block"]["best_score"] == 0.877
    assert v["seen"] == [("ebike", 0.88)]
    assert v["block"]["started"] == WALL0


def test_a_wiring_test_pulse_is_not_blocking(rig: Rig) -> None:
    rig.door_open()
    rig.guard.test_relay(2)
    assert rig.relay.is_on and rig.guard.state() == "watching"


def test_each_fault_is_counted_and_its_figures_rounded(rig: Rig) -> None:
    rig.guard.set_fault("covered", "lens covered", luma=42.04, contrast=12.36)
    rig.guard.set_fault("frozen", "same picture")
    assert rig.guard.fault_count == 2
    covered = rig.of(ev.Fault)[0]
    assert (covered.luma, covered.contrast) == (42.0, 12.4)


def test_faults_are_logged_for_the_installer(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="test.lift"):
        rig.guard.set_fault("black", "picture black")
        rig.guard.clear_fault("black", by="维修")
        rig.guard.set_fault("frozen", "same picture")
        rig.guard.clear_fault("frozen")
    assert [r.getMessage() for r in caplog.records] == [
        "fault black: picture black (relay released)", "fault black cleared by 维修",
        "fault frozen: same picture (relay released)", "fault frozen cleared"]


def test_releases_are_logged_with_who(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    b = start_block(rig)
    rig.clock.t += 1.25
    with caplog.at_level(logging.INFO, logger="test.lift"):
        rig.guard.release("王工", "mqtt", 1, None)
    assert f"release {b.block_id}: remote after 1.2 s by 王工" in [r.getMessage() for r in caplog.records]


def test_clearing_another_fault_keeps_the_readback_timer(rig: Rig) -> None:
    rig.healthy_contact = False
    rig.guard.set_fault("black", "picture black")
    rig.board.set_input(READBACK, True)  # welded: reads closed while the coil is off
    rig.advance(0)
    rig.advance(0.3)
    rig.guard.clear_fault("black")
    rig.advance(0.2)  # 0.5 s since the mismatch was first seen
    assert "relay_mismatch" in rig.guard.faults


def test_a_mismatch_still_there_after_staff_cleared_it_comes_back_after_the_settle_time(rig: Rig) -> None:
    rig.healthy_contact = False
    rig.board.set_input(READBACK, True)
    rig.advance(0)
    rig.advance(READBACK_SETTLE_S)
    assert "relay_mismatch" in rig.guard.faults
    assert rig.guard.clear_fault("relay_mismatch", by="维修")
    rig.advance(0.1)  # still welded: the timer starts again
    assert "relay_mismatch" not in rig.guard.faults
    rig.advance(READBACK_SETTLE_S)
    assert "relay_mismatch" in rig.guard.faults and len(rig.of(ev.Fault)) == 2


def test_reconfigure_takes_new_classes_and_region(rig: Rig) -> None:
    cfg = rig.guard.cfg.model_copy(update={"classes": rig.guard.cfg.classes.model_copy(
        update={"acting": ["ebike", "battery"]})})
    rig.guard.reconfigure(cfg)
    rig.door_open()
    rig.frame(bike(cls="battery"))
    assert rig.relay.is_on and rig.guard.block is not None and rig.guard.block.cls == "battery"
    [(_, blobs)] = [(d, bl) for d, bl in rig.events if isinstance(d, ev.BlockStarted)]
    assert blobs and blobs[0][:2] == b"\xff\xd8", "the snapshot is still drawn (classes and region in place)"


def test_the_relay_is_released_before_the_release_is_reported(rig: Rig) -> None:
    seen: list[tuple[str, bool]] = []
    emit = rig.guard.emit
    rig.guard.emit = lambda data, blobs: (seen.append((type(data).__name__, rig.relay.is_on)), emit(data, blobs))
    start_block(rig)
    rig.advance(60)  # the longest hold: a snapshot is encoded before the event, the door must already be free
    assert ("BlockEnded", False) in seen and ("BlockStarted", True) in seen


def test_hold_time_and_counters_are_exact(rig: Rig) -> None:
    rig.door_open()
    rig.frame(bike())
    rig.frame()  # cleared in the same instant: held 0 s
    rig.clock.t += 1
    rig.frame(bike(tid=2))
    rig.clock.t += 1.2371
    rig.frame()
    assert [e.hold_s for e in rig.of(ev.BlockEnded)] == [0.0, 1.24]
    assert rig.guard.releases == {"cleared": 2} and rig.guard.blocks == 2


def test_scores_above_one_and_long_notes_are_clipped_to_the_contract(rig: Rig) -> None:
    start_block(rig, score=1.3, best=1.3)
    rig.guard.release("x" * 100, "local", 0.12345, "y" * 300)
    [e] = rig.of(ev.BlockEnded)
    assert e.best_score == 1.0 and e.note == "y" * 200
    [s] = rig.of(ev.Suppressed)
    assert s.by == "x" * 64 and s.minutes == 0.12
    b = rig.of(ev.BlockStarted)[0]
    assert b.score == 1.0 and b.scores == [0.65, 1.0]


def test_the_evidence_record_is_closed_with_the_release(rig: Rig) -> None:
    b = start_block(rig)
    rig.clock.t += 2.5
    rig.guard.release("王工", "mqtt", 1, None)
    [rec] = rig.guard.evidence.recent()
    assert rec.block_id == b.block_id and rec.jpeg is not None
    assert (rec.data["open"], rec.data["reason"], rec.data["hold_s"], rec.data["by"]) == (False, "remote", 2.5, "王工")


def test_the_longest_hold_picture_is_the_last_frame_annotated(rig: Rig) -> None:
    from edge.vision.detection import Detection

    rig.door_open()
    t = bike()
    t.detection = Detection("motorcycle", 0.9, (10.0, 10.0, 30.0, 40.0), "ebike")
    res = FrameResult(seq=1, ts=rig.clock.t, width=64, height=48, health=HealthState(), detected=True, tracks=[t],
                      detections=[t.detection])
    image = np.full((48, 64, 3), 90, np.uint8)
    rig.guard.on_frame(res, image)
    b = rig.of(ev.BlockStarted)[0]
    assert [(o.cls, o.label, o.track) for o in b.objects] == [("ebike", "motorcycle", 1)]
    rig.advance(60)
    [(_, blobs)] = [(d, bl) for d, bl in rig.events if isinstance(d, ev.BlockEnded)]
    expected = rig.guard._snapshot(image, res, f"{rig.clock.now().isoformat(timespec='seconds')} max hold 60s")
    assert blobs == [expected]
    plain = rig.guard._snapshot(image, None, f"{rig.clock.now().isoformat(timespec='seconds')} max hold 60s")
    assert plain is not None and plain != expected, "the boxes are drawn"


def test_no_picture_means_no_blob_not_an_empty_one(rig: Rig) -> None:
    rig.door_open()
    res = FrameResult(seq=1, ts=rig.clock.t, width=64, height=48, health=HealthState(), detected=True,
                      tracks=[bike()])
    rig.guard.on_frame(res, np.zeros((0, 0, 3), np.uint8))  # a picture that cannot be encoded
    assert rig.relay.is_on
    rig.advance(60)
    assert [bl for _, bl in rig.events if _.__class__ in (ev.BlockStarted, ev.BlockEnded)] == [[], []]


def test_a_long_staff_name_is_clipped_in_every_event_not_refused(rig: Rig) -> None:
    start_block(rig)
    rig.guard.release("x" * 100, "mqtt", 1, None)
    assert rig.guard.resume("z" * 100) == {"was_paused": True}
    assert rig.of(ev.BlockEnded)[0].by == "x" * 64 and rig.of(ev.Resumed)[0].by == "z" * 64


def test_reconfigure_draws_the_new_region_on_the_snapshot(rig: Rig) -> None:
    from edge.vision import Region, annotate, to_jpeg

    region = rig.guard.cfg.region.model_copy(update={"polygon": [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]})
    cfg = rig.guard.cfg.model_copy(update={"region": region})
    rig.guard.reconfigure(cfg)
    rig.door_open()
    image = np.full((48, 64, 3), 60, np.uint8)
    res = FrameResult(seq=1, ts=rig.clock.t, width=64, height=48, health=HealthState(), detected=True,
                      tracks=[bike()])
    rig.guard.on_frame(res, image)
    [(_, blobs)] = [(d, bl) for d, bl in rig.events if isinstance(d, ev.BlockStarted)]
    caption = f"{WALL0.isoformat(timespec='seconds')} ebike 0.90"
    expected = to_jpeg(annotate(image, [], ["ebike"], Region(region), caption), cfg.snapshots.quality,
                       cfg.snapshots.max_width)
    assert blobs[0] == expected


# ------------------------------------------------------------------------------------------------ pictures and figures
def _wide_frame(rig: Rig, box: tuple[float, float, float, float], score: float = 0.9) -> tuple[FrameResult, Any]:
    from edge.vision.detection import Detection

    t = bike(score=score)
    t.box = box
    t.detection = Detection("motorcycle", score, box, "ebike")
    res = FrameResult(seq=1, ts=rig.clock.t, width=400, height=200, health=HealthState(), detected=True, tracks=[t],
                      detections=[t.detection])
    image = np.full((200, 400, 3), 90, np.uint8)
    image[:, ::7] = 200  # some detail to encode
    return res, image


def _width(jpeg: bytes) -> int:
    import cv2

    return int(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[1])


def test_snapshot_and_crop_are_shrunk_to_the_largest_width(tmp_path: Path) -> None:
    r = make_rig(tmp_path, snapshots={"max_width": 160, "quality": 70})
    try:
        r.door_open()
        res, image = _wide_frame(r, (20.0, 20.0, 380.0, 190.0), score=1.3)
        r.guard.on_frame(res, image)
        [(b, blobs)] = [(d, bl) for d, bl in r.events if isinstance(d, ev.BlockStarted)]
        assert len(blobs) == 2 and b.crop is True
        assert _width(blobs[0]) == 160 and _width(blobs[1]) == 160
        caption = f"{WALL0.isoformat(timespec='seconds')} ebike 1.30"
        assert blobs[0] == r.guard._snapshot(image, res, caption), "the boxes of this frame are drawn"
        assert [o.score for o in b.objects] == [1.0], "a detector score above 1 is clipped to the contract"
    finally:
        close_rig(r)


def test_no_crop_for_a_box_too_small_and_no_error_logged(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.door_open()
    res, image = _wide_frame(rig, (10.0, 10.0, 11.0, 11.0))
    with caplog.at_level(logging.ERROR, logger="test.lift"):
        rig.guard.on_frame(res, image)
    [(b, blobs)] = [(d, bl) for d, bl in rig.events if isinstance(d, ev.BlockStarted)]
    assert len(blobs) == 1 and b.crop is False
    assert not caplog.records


def test_a_failing_crop_or_snapshot_is_logged_and_the_block_goes_on(rig: Rig, monkeypatch: pytest.MonkeyPatch,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    import edge.apps.lift_guard.guard as guard_mod

    def broken(*_a: Any, **_k: Any) -> Any:
        raise ValueError("bad picture")

    monkeypatch.setattr(guard_mod, "crop", broken)
    monkeypatch.setattr(guard_mod, "annotate", broken)
    rig.door_open()
    res, image = _wide_frame(rig, (20.0, 20.0, 380.0, 190.0))
    with caplog.at_level(logging.ERROR, logger="test.lift"):
        rig.guard.on_frame(res, image)
    assert rig.relay.is_on
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == ["snapshot failed", "crop failed"]


def test_latency_figures_are_rounded_and_bounded(rig: Rig) -> None:
    rig.guard.latencies_ms = [float(i) for i in range(200)]
    rig.door_open()
    rig.frame(bike(inside_s=0.43217))
    assert rig.guard.last_latency_ms == 432.2
    assert len(rig.guard.latencies_ms) == 200 and rig.guard.latencies_ms[0] == 1.0
    assert rig.guard.latencies_ms[-1] == pytest.approx(432.17)


def test_a_battery_block_speaks_the_battery_words(rig: Rig) -> None:
    cfg = rig.guard.cfg.model_copy(update={"classes": rig.guard.cfg.classes.model_copy(
        update={"acting": ["ebike", "battery"]})})
    rig.guard.reconfigure(cfg)
    rig.door_open()
    rig.frame(bike(cls="battery"))
    assert rig.speaker.wait_idle(5)
    assert rig.speaker.history[0].text == "电动车电池禁止带入电梯，请立即带出。"


def test_release_log_without_a_name_and_evidence_hold_rounding(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    b = start_block(rig)
    rig.clock.t += 1.2371
    with caplog.at_level(logging.INFO, logger="test.lift"):
        rig.frame()
    assert f"release {b.block_id}: cleared after 1.2 s" in caplog.messages
    [rec] = rig.guard.evidence.recent()
    assert rec.data["hold_s"] == 1.24


def test_the_block_event_carries_exact_figures_and_the_evidence_record_opens(rig: Rig,
                                                                              caplog: pytest.LogCaptureFixture) -> None:
    from edge.vision.detection import Detection

    rig.guard.classifier = "cls-v3@abc"
    rig.guard.model = "m" * 300
    t = bike(score=0.9, age_s=1.23456, inside_s=0.43217)
    t.window = deque([0.123456, 0.9])
    t.verdict = "ebike"
    t.detection = Detection("motorcycle", 0.9, (10.0, 10.0, 30.0, 40.0), "ebike")
    strays = [Detection("person", 0.5, (1.0, 1.0, 5.0, 5.0), "person") for _ in range(59)]
    res = FrameResult(seq=1, ts=rig.clock.t, width=64, height=48, health=HealthState(), detected=True, tracks=[t],
                      detections=[t.detection, *strays])
    rig.door_open()
    with caplog.at_level(logging.WARNING, logger="test.lift"):
        rig.guard.on_frame(res, np.full((48, 64, 3), 90, np.uint8))
    [b] = rig.of(ev.BlockStarted)
    assert (b.classifier, b.verdict, b.model) == ("cls-v3@abc", "ebike", "m" * 200)
    assert b.scores == [0.1235, 0.9] and b.track_s == 1.23 and b.latency_ms == 432.2 and b.seen_ms == 1234.6
    assert len(b.objects) == 50 and b.objects[0].track == 1 and b.objects[1].track is None
    assert caplog.messages == [f"block {b.block_id}: ebike 0.90 (relay on 432 ms after it stood on the car floor, "
                               "1235 ms after first sight)"]
    [rec] = rig.guard.evidence.recent()
    assert rec.data["open"] is True and rec.data["block_id"] == b.block_id and rec.data["cls"] == "ebike"
    assert rec.data["objects"][0]["box"] == list(t.detection.normalised(64, 48))


def test_a_block_whose_door_closed_in_the_same_instant_says_the_relay_is_not_on(
        rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    rig.door_open()
    reads = iter([True])
    monkeypatch.setattr(rig.guard, "door_open", lambda: next(reads, False))  # open when checked, closed after
    with caplog.at_level(logging.WARNING, logger="test.lift"):
        rig.frame(bike())
    [b] = rig.of(ev.BlockStarted)
    assert b.relay is False and not rig.relay.is_on
    assert "(relay NOT on 400 ms after" in caplog.messages[0]
    assert rig.kinds() == ["BlockStarted", "BlockEnded"], "reported in order: the block, then its end"
    assert rig.of(ev.BlockEnded)[0].reason == "door_closed"
    [rec] = rig.guard.evidence.recent()
    assert (rec.data["open"], rec.data["reason"]) == (False, "door_closed"), "the evidence record is closed too"


def test_no_snapshot_means_no_crop_flag_and_no_blobs(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    import edge.apps.lift_guard.guard as guard_mod

    def broken(*_a: Any, **_k: Any) -> Any:
        raise ValueError("bad picture")

    monkeypatch.setattr(guard_mod, "annotate", broken)
    rig.door_open()
    res, image = _wide_frame(rig, (20.0, 20.0, 380.0, 190.0))
    rig.guard.on_frame(res, image)
    [(b, blobs)] = [(d, bl) for d, bl in rig.events if isinstance(d, ev.BlockStarted)]
    assert b.crop is False and blobs == []
