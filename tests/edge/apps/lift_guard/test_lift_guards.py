"""The guards around the hold relay, through the real agent: camera faults, longest hold, remote release (audited,
time-boxed), relay read-back, inhibit input, and the maintenance tests that refuse while the car may move."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from edge.runtime.harness import Recorder
from linli.contract import lift_guard as ev
from linli.testing import wait_for
from tests.edge.apps.lift_guard.conftest import LiftFactory
from tests.edge.apps.lift_guard.test_lift_scenarios import relay_changes


def test_black_covered_and_frozen_views_are_faults_that_release_the_relay(
        lifts: LiftFactory, recorder: Recorder, clip_video: Callable[..., Path]) -> None:
    held = lifts.make(clip_video("bike_then_black"))
    covered = lifts.make(clip_video("covered"))
    frozen = lifts.make(clip_video("frozen"))
    wait_for(held.sim.relay_on, 10, what="block before the view goes black")
    faults = {}
    for lift, kind in ((held, "black"), (covered, "covered"), (frozen, "frozen")):
        e = recorder.wait(lambda lift=lift: recorder.events(lift.ref, ev.FAULT), 15, what=f"{kind} fault")[0]
        faults[kind] = ev.Fault.model_validate(e.data)
        assert e.severity == "alarm" and faults[kind].fault == kind, (kind, e.data)
        assert lift.agent.app.state() == "fault" and not lift.sim.relay_on()
    assert faults["black"].relay_released and faults["black"].luma is not None and faults["black"].luma < 12
    assert not faults["covered"].relay_released and not faults["frozen"].relay_released
    rel = recorder.events(held.ref, ev.RELEASE)[0]
    assert rel.data["reason"] == "fault" and rel.data["note"] == "black"
    assert relay_changes(held) == [True, False]
    # a camera that stops altogether (end of its file here) is a fault too, and stays one
    e = recorder.wait(lambda: [x for x in recorder.events(frozen.ref, ev.FAULT) if x.data["fault"] == "camera_lost"],
                      15, what="camera_lost once the clip ended")[0]
    assert "end of file" in e.data["detail"] or "no frame" in e.data["detail"]
    assert not frozen.sim.relay_on()


def test_longest_hold_releases_with_an_alarm_and_pauses_until_the_car_is_clear(
        lifts: LiftFactory, recorder: Recorder, clip_video: Callable[..., Path]) -> None:
    lift = lifts.make(clip_video("bike_stays"), max_hold_s=2.0, max_hold_cooldown_s=600)
    a = lift.agent
    wait_for(lift.sim.relay_on, 10, what="block")
    t_on = time.monotonic()
    rel = recorder.wait(lambda: recorder.events(a.ref, ev.RELEASE), 10, what="max-hold release")[0]
    assert not lift.sim.relay_on() and time.monotonic() - t_on >= 1.8
    end = ev.BlockEnded.model_validate(rel.data)
    assert rel.severity == "alarm" and end.reason == "max_hold" and end.hold_s >= 2.0
    assert len(rel.blobs) == 1  # what the car looked like when the hold ran out
    pause = recorder.wait(lambda: recorder.events(a.ref, ev.SUPPRESS), what="pause")[0]
    assert pause.data["origin"] == "max_hold"
    time.sleep(1.5)  # the bike is still there, but the guard does not trap the lift again
    assert not lift.sim.relay_on() and a.app.state() == "paused"
    assert len(recorder.events(a.ref, ev.BLOCK)) == 1


def test_remote_release_is_audited_time_boxed_and_blocking_resumes(
        lifts: LiftFactory, recorder: Recorder, clip_video: Callable[..., Path]) -> None:
    lift = lifts.make(clip_video("bike_stays"), release_default_min=0.5, release_max_min=1.0)
    a = lift.agent
    wait_for(lift.sim.relay_on, 10, what="block")
    too_long = recorder.command(a.ref, "release", {"minutes": 5}, by="mgr.wang")
    res = recorder.wait(lambda: [r for r in recorder.results(a.ref) if r.id == too_long.id], what="refusal")[0]
    assert not res.ok and "longer than release_max_min" in res.error and lift.sim.relay_on()
    cmd = recorder.command(a.ref, "release", {"minutes": 0.05, "reason": "误报：轮椅"}, by="mgr.wang")
    res = recorder.wait(lambda: [r for r in recorder.results(a.ref) if r.id == cmd.id], what="release result")[0]
    assert res.ok and res.result["released_block"] and not lift.sim.relay_on()
    rel = recorder.wait(lambda: recorder.events(a.ref, ev.RELEASE), what="release event")[0]
    assert rel.data["reason"] == "remote" and rel.data["by"] == "mgr.wang" and rel.data["note"] == "误报：轮椅"
    sup = recorder.wait(lambda: recorder.events(a.ref, ev.SUPPRESS), what="pause event")[0]
    assert sup.data["by"] == "mgr.wang" and sup.data["origin"] == "mqtt" and sup.data["minutes"] == 0.05
    audit = recorder.wait(lambda: [e for e in recorder.events(a.ref, "cmd.executed") if e.data["name"] == "release"],
                          what="audit event")[0]
    assert audit.data["by"] == "mgr.wang"
    assert "mgr.wang" in (a.data_dir / "audit.log").read_text(encoding="utf-8")
    assert a.app.state() == "paused"
    # after 3 s the pause is over; the bike is still there, so the door is held again
    wait_for(lambda: recorder.events(a.ref, ev.RESUME), 6, what="pause expired")
    assert recorder.events(a.ref, ev.RESUME)[0].data["why"] == "expired"
    wait_for(lift.sim.relay_on, 5, what="blocking again")
    assert len(recorder.events(a.ref, ev.BLOCK)) == 2


def test_relay_readback_mismatch_latches_a_fault_until_staff_reset_it(
        lifts: LiftFactory, recorder: Recorder, clip_video: Callable[..., Path]) -> None:
    lift = lifts.make(clip_video("bike_stays"))
    a = lift.agent
    lift.sim.readback_stuck = False  # coil open: commanded on, the contact never closes
    e = recorder.wait(lambda: recorder.events(a.ref, ev.FAULT), 10, what="relay fault")[0]
    assert e.data["fault"] == "relay_mismatch" and "reads open" in e.data["detail"]
    assert not lift.sim.relay_on() and a.app.state() == "fault"
    lift.sim.readback_stuck = None  # repaired
    time.sleep(1.0)
    assert a.app.state() == "fault"  # latched: a technician has to look
    res = a.runner.run_local("reset_faults", {}, by="local:maint")
    assert res.ok and res.result["cleared"] == ["relay_mismatch"]
    wait_for(lift.sim.relay_on, 5, what="blocking again after the reset")
    cleared = recorder.wait(lambda: recorder.events(a.ref, ev.FAULT_CLEARED), what="fault cleared")[0]
    assert cleared.data["fault"] == "relay_mismatch"


def test_fire_service_input_releases_and_tests_refuse_while_the_car_may_move(
        lifts: LiftFactory, recorder: Recorder, clip_video: Callable[..., Path]) -> None:
    lift = lifts.make(clip_video("bike_stays"))
    a = lift.agent
    wait_for(lift.sim.relay_on, 10, what="block")
    res = a.runner.run_local("test_relay", {}, by="local:maint")
    assert not res.ok and "block is on" in res.error
    lift.sim.set_inhibit("fire_service", True)
    wait_for(lambda: not lift.sim.relay_on(), 2, what="release on fire service")
    rel = recorder.wait(lambda: recorder.events(a.ref, ev.RELEASE), what="release")[0]
    assert rel.data["reason"] == "inhibit" and a.app.state() == "disabled"
    lift.sim.set_door(False)
    for name in ("test_voice", "test_relay"):
        res = a.runner.run_local(name, {}, by="local:maint")
        assert not res.ok and "car may move" in res.error, name
    assert not lift.sim.relay_on()
    lift.sim.set_door(True)
    before = len(a.hal.speaker.history)
    res = a.runner.run_local("test_voice", {}, by="local:maint")
    assert res.ok and a.hal.speaker.wait_idle(5) and len(a.hal.speaker.history) == before + 2
    res = a.runner.run_local("test_relay", {}, by="local:maint")
    assert not res.ok and "fire-service" in res.error and not lift.sim.relay_on()
