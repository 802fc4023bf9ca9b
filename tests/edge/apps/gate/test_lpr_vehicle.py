"""LPR camera pushes are about the vehicle, not the message: one passage and one parking session per stay, however
often the camera re-triggers (lingering, reversing, a second read after the merge window); every re-trigger
answered so the camera stops resending; ``plateid`` up to 2^64 or text; ``isoffline`` in its real forms; a camera
clock at 1970 or in the future flagged, never used as the parking time."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edge.apps.gate.lprpush import PushError, camera_clock, parse_push
from edge.apps.gate.sim import CarSim, LprCameraSim, lane_pins, push_doc
from edge.hal.sim import PinBoard
from edge.runtime.harness import AgentFactory, Recorder
from linli.contract.gate import ListEntry, PassageData

from .conftest import HAL, gate_app


def _agent(gate_agents: AgentFactory, **app: Any) -> Any:
    agent = gate_agents.make(hal=HAL, app=gate_app(**app))
    now = datetime.now(UTC)
    agent.app.store.upsert_entries([
        ListEntry(list="resident", key="沪A12345", plate="沪A12345", valid_from=now - timedelta(days=1),
                  valid_to=now + timedelta(days=30), label="3号楼")])
    return agent


def _passages(rec: Recorder) -> list[PassageData]:
    return [PassageData.model_validate(e.data) for e in rec.events(type="gate.passage")]


def _stop_sent(reply: dict[str, Any]) -> bool:
    body = reply["Response_AlarmInfoPlate"]
    return body["info"] == "no" and body["content"] == "retransfer_stop"


def test_a_lingering_car_opens_once_and_keeps_one_session(gate_agents: AgentFactory,
                                                          gate_recorder: Recorder) -> None:
    agent = _agent(gate_agents, repeat_window_s=1)
    car = CarSim(PinBoard(), lane_pins(agent.cfg.hal, agent.app.cfg, "in"))
    cam = LprCameraSim(agent.app.lpr.url, "cam-in")
    try:
        before = car.pulses()
        status, first = cam.push("沪B99999", plate_id=1)  # a visitor's car: a temporary session starts
        assert status == 200 and first["Response_AlarmInfoPlate"]["plateid"] == 1
        assert car.wait_open(before, 2.0)
        session = agent.app.store.open_session("沪B99999")
        assert session is not None
        time.sleep(1.3)  # past the merge window: the car is still in front of the camera
        replies = [cam.push("沪B99999", plate_id=2, trigger=1)[1],  # an ordinary second trigger
                   cam.push("沪B99999", plate_id=3, trigger=64)[1],  # lingering
                   cam.push("沪B99999", plate_id=4, trigger=66)[1]]  # reversing
        assert all(_stop_sent(r) for r in replies), replies
        time.sleep(0.3)
        assert car.pulses() == before + 1, "the barrier opened again for the same car"
        again = agent.app.store.open_session("沪B99999")
        assert again is not None and again.id == session.id and again.entry_at == session.entry_at
        assert agent.app.store.inside().get("temporary") == 1
        got = gate_recorder.wait(lambda: _passages(gate_recorder), what="a passage")
        time.sleep(0.3)
        assert len([p for p in _passages(gate_recorder) if p.plate == "沪B99999"]) == 1
        assert agent.app.lanes["in"].counts["rereads"] == 3
        assert got[0].session_id == session.id
    finally:
        cam.close()


def test_a_misread_re_trigger_of_a_resident_is_the_same_car(gate_agents: AgentFactory) -> None:
    agent = _agent(gate_agents, repeat_window_s=1)
    car = CarSim(PinBoard(), lane_pins(agent.cfg.hal, agent.app.cfg, "in"))
    cam = LprCameraSim(agent.app.lpr.url, "cam-in")
    try:
        before = car.pulses()
        cam.push("沪A12345", plate_id=20)
        assert car.wait_open(before, 2.0)
        time.sleep(1.2)
        status, again = cam.push("沪A1234S", plate_id=21)  # 5 read as S: the resident's car, still there
        assert status == 200 and _stop_sent(again)
        time.sleep(0.3)
        assert car.pulses() == before + 1
        assert agent.app.store.inside().get("resident") == 1
    finally:
        cam.close()


def test_back_without_its_exit_seen_keeps_the_first_entry_time(gate_agents: AgentFactory,
                                                               gate_recorder: Recorder) -> None:
    agent = _agent(gate_agents, repeat_window_s=1, reread_window_s=0)
    car = CarSim(PinBoard(), lane_pins(agent.cfg.hal, agent.app.cfg, "in"))
    cam = LprCameraSim(agent.app.lpr.url, "cam-in")
    try:
        before = car.pulses()
        cam.push("沪B77777", plate_id=10)
        assert car.wait_open(before, 2.0)
        car.drive_through(0.1)
        first = agent.app.store.open_session("沪B77777")
        time.sleep(1.2)
        cam.push("沪B77777", plate_id=11)  # the exit camera missed it; it comes back in: decided again
        assert car.wait_open(before + 1, 2.0)
        stay = agent.app.store.open_session("沪B77777")
        assert first is not None and stay is not None
        assert stay.id == first.id and stay.entry_at == first.entry_at, "the parking clock restarted"
        assert agent.app.store.inside().get("temporary") == 1
        got = gate_recorder.wait(lambda: len(_passages(gate_recorder)) >= 2 and _passages(gate_recorder),
                                 what="2 passages")
        assert {p.session_id for p in got} == {first.id}
    finally:
        cam.close()


def test_a_valid_plate_that_does_not_fit_its_colour_goes_to_the_guard(gate_agents: AgentFactory,
                                                                      gate_recorder: Recorder) -> None:
    """A green new-energy plate read with its letter dropped still looks like a valid blue plate — here the
    resident's: the camera's colour says it cannot be, so the guard decides instead of the barrier opening."""
    agent = _agent(gate_agents)
    car = CarSim(PinBoard(), lane_pins(agent.cfg.hal, agent.app.cfg, "in"))
    cam = LprCameraSim(agent.app.lpr.url, "cam-in")
    try:
        before = car.pulses()
        status, reply = cam.push("沪A12345", plate_id=30, colour=5)  # colorType 5 = green
        assert status == 200 and _stop_sent(reply)
        got = gate_recorder.wait(lambda: _passages(gate_recorder), what="the passage")[0]
        assert got.decision == "guard" and not got.opened and got.problem and "misread" in got.problem
        assert car.pulses() == before
    finally:
        cam.close()


def test_plate_ids_up_to_2_64_or_text_are_deduplicated_and_echoed(gate_agents: AgentFactory) -> None:
    agent = _agent(gate_agents)
    cam = LprCameraSim(agent.app.lpr.url, "cam-in")
    try:
        big = 2**64 - 1
        a = cam.push("沪A12345", plate_id=big)
        assert a[0] == 200 and a[1]["Response_AlarmInfoPlate"]["plateid"] == big
        assert cam.push("沪A12345", plate_id=big) == a  # the resend gets the same answer
        b = cam.push("沪C55555", plate_id="A7F3-0001")
        assert b[0] == 200 and b[1]["Response_AlarmInfoPlate"]["plateid"] == "A7F3-0001"
        status, err = cam.push("沪C55556", plate_id=2**64)
        assert status == 400 and "plateid" in err["Response_AlarmInfoPlate"]["error"]
    finally:
        cam.close()


@pytest.mark.parametrize(("form", "offline"), [(1, True), ("1", True), (True, True), ("true", True), (0, False),
                                                ("0", False), (False, False), ("false", False)])
def test_isoffline_in_the_forms_cameras_send(form: Any, offline: bool) -> None:
    doc = push_doc("沪A12345")
    doc["AlarmInfoPlate"]["result"]["PlateResult"]["isoffline"] = form
    assert parse_push(doc, 1000).offline is offline


def test_isoffline_nonsense_is_refused_by_name() -> None:
    doc = push_doc("沪A12345")
    doc["AlarmInfoPlate"]["result"]["PlateResult"]["isoffline"] = "maybe"
    with pytest.raises(PushError, match="isoffline"):
        parse_push(doc, 1000)


def test_camera_clock_faults_are_flagged_not_used() -> None:
    now = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    epoch = datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC)
    future = now + timedelta(days=400)
    past = now - timedelta(hours=3)
    assert camera_clock(epoch, now, 120, offline=True)[0] == now  # a replay with a reset clock
    assert camera_clock(epoch, now, 120, offline=True)[1] is not None
    assert camera_clock(future, now, 120, offline=False) == (now, round((future - now).total_seconds(), 1))
    assert camera_clock(future, now, 120, offline=True)[0] == now
    assert camera_clock(past, now, 120, offline=True) == (past, None)  # a real offline record keeps its time
    assert camera_clock(now + timedelta(seconds=30), now, 120, offline=False) == (now + timedelta(seconds=30), None)


def test_an_offline_replay_from_1970_does_not_bill_56_years(gate_agents: AgentFactory,
                                                            gate_recorder: Recorder) -> None:
    agent = _agent(gate_agents)
    cam = LprCameraSim(agent.app.lpr.url, "cam-in")
    try:
        doc = push_doc("沪D66666", serial="cam-in", plate_id=900, offline=True, camera_opened=True,
                       at=datetime(1970, 1, 1, 0, 1, tzinfo=UTC))
        status, _ = cam.send(json.dumps(doc, ensure_ascii=False).encode())
        assert status == 200
        got = gate_recorder.wait(lambda: _passages(gate_recorder), what="the replayed passage")[0]
        assert got.offline_replay and got.clock_skew_s is not None and got.clock_skew_s < -1e9
        assert got.at.year >= 2026
        session = agent.app.store.open_session("沪D66666")
        assert session is not None and session.entry_at.year >= 2026
    finally:
        cam.close()
