"""The whole chain on a real agent: an LPR camera's HTTP push → plate rules → decision → barrier relay pulse (read
on the mock pin) → loop → ``gate.passage`` on the broker; the guard's commands; bad pushes; offline operation."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from edge.apps.gate.sim import CarSim, LprCameraSim, lane_pins
from edge.hal.sim import PinBoard
from edge.runtime.harness import AgentFactory, Recorder
from linli.contract.gate import ListEntry, PassageData
from linli.testing import TestBroker, wait_for

from .conftest import HAL, gate_app


def _agent(gate_agents: AgentFactory, **app: Any) -> Any:
    agent = gate_agents.make(hal=HAL, app=gate_app(**app))
    now = datetime.now(UTC)
    agent.app.store.upsert_entries([
        ListEntry(list="resident", key="沪A12345", plate="沪A12345", valid_from=now - timedelta(days=1),
                  valid_to=now + timedelta(days=30), label="3号楼"),
        ListEntry(list="blacklist", key="沪E44444", plate="沪E44444", label="欠费"),
    ])
    return agent


def _cars(agent: Any) -> tuple[CarSim, CarSim]:
    board = PinBoard()
    return (CarSim(board, lane_pins(agent.cfg.hal, agent.app.cfg, "in")),
            CarSim(board, lane_pins(agent.cfg.hal, agent.app.cfg, "out")))


def _passages(rec: Recorder) -> list[PassageData]:
    return [PassageData.model_validate(e.data) for e in rec.events(type="gate.passage")]


def test_push_to_relay_to_passage(gate_agents: AgentFactory, gate_recorder: Recorder) -> None:
    agent = _agent(gate_agents)
    car_in, car_out = _cars(agent)
    cam_in = LprCameraSim(agent.app.lpr.url, "cam-in")
    cam_out = LprCameraSim(agent.app.lpr.url, "cam-out")
    try:
        # a resident, with separators and full-width characters as some cameras send them
        before = car_in.pulses()
        status, reply = cam_in.push("沪Ａ·１２３４５", plate_id=101)
        assert status == 200 and reply["Response_AlarmInfoPlate"]["plateid"] == 101
        assert car_in.wait_open(before, 2.0), "the entry barrier relay did not pulse"
        car_in.drive_through(0.2)
        # a temporary car enters (a session starts), then leaves within the free period
        before = car_in.pulses()
        cam_in.push("沪B99999", plate_id=102)
        assert car_in.wait_open(before, 2.0)
        car_in.drive_through(0.2)
        before_out = car_out.pulses()
        cam_out.push("沪B99999", plate_id=201)
        assert car_out.wait_open(before_out, 2.0)
        # the blacklisted car is refused and the relay stays still
        car_out.drive_through(0.2)
        before = car_in.pulses()
        status, reply = cam_in.push("沪E44444", plate_id=103)
        assert reply["Response_AlarmInfoPlate"]["info"] == "no"
        time.sleep(0.3)
        assert car_in.pulses() == before
        got = gate_recorder.wait(lambda: len(_passages(gate_recorder)) >= 4 and _passages(gate_recorder),
                                 what="4 passages")
        by_plate = {(p.plate, p.direction): p for p in got}
        assert by_plate[("沪A12345", "entry")].category == "resident" and by_plate[("沪A12345", "entry")].opened
        assert by_plate[("沪B99999", "entry")].reason == "temporary" and by_plate[("沪B99999", "entry")].session_id
        out = by_plate[("沪B99999", "exit")]
        assert out.reason == "free_period" and out.session_id == by_plate[("沪B99999", "entry")].session_id
        bl = by_plate[("沪E44444", "entry")]
        assert bl.decision == "deny" and not bl.opened
        sev = {e.data["plate"]: e.severity for e in gate_recorder.events(type="gate.passage")}
        assert sev["沪E44444"] == "alarm"
        assert any("欢迎回家" in s.text for s in agent.hal.speaker.history)
    finally:
        cam_in.close()
        cam_out.close()


def test_replay_duplicates_and_repeats_are_one_passage(gate_agents: AgentFactory, gate_recorder: Recorder) -> None:
    agent = _agent(gate_agents)
    car_in, _ = _cars(agent)
    cam = LprCameraSim(agent.app.lpr.url, "cam-in")
    try:
        before = car_in.pulses()
        first = cam.push("沪A12345", plate_id=7)
        again = cam.push("沪A12345", plate_id=7)  # the camera resends (it missed our reply)
        assert first == again
        cam.push("沪A12345", plate_id=8)  # the same car read again while it waits: merged
        car_in.wait_open(before, 2.0)
        time.sleep(0.3)
        assert car_in.pulses() == before + 1
        car_in.drive_through(0.1)
        car_in.drive_through(0.1)  # a second car slips through under the same opening
        tg = gate_recorder.wait(lambda: gate_recorder.events(type="gate.tailgating"), what="tailgating")[0]
        assert tg.data["lane"] == "in" and tg.data["vehicles"] == 2 and tg.data["authorised"] == 1
        # offline records: stored by the camera while we were away, replayed twice and out of order
        t0 = datetime.now(UTC) - timedelta(hours=2)
        for i, plate in enumerate(["沪C11111", "沪C22222", "沪C33333"]):
            cam.store_offline(plate, t0 + timedelta(minutes=i), plate_id=500 + i)
        codes = cam.replay_offline(duplicates=2)
        assert codes == [200] * 6
        assert all(r["Response_AlarmInfoPlate"]["info"] == "no" for _, r in cam.replies[-6:])  # history: no opening
        time.sleep(0.3)
        assert car_in.pulses() == before + 1
        got = gate_recorder.wait(lambda: len(_passages(gate_recorder)) >= 4 and _passages(gate_recorder),
                                 what="passages")
        time.sleep(0.3)
        got = _passages(gate_recorder)
        assert sorted(p.plate for p in got) == ["沪A12345", "沪C11111", "沪C22222", "沪C33333"]
        offline = {p.plate: p for p in got if p.offline_replay}
        assert offline["沪C22222"].at == t0 + timedelta(minutes=1)
        assert offline["沪C22222"].reason == "camera_offline_record" and offline["沪C22222"].session_id
        assert agent.app.store.inside().get("temporary") == 3
    finally:
        cam.close()


def test_bad_pushes_are_refused_clearly_and_the_gate_stays_shut(gate_agents: AgentFactory,
                                                                  gate_recorder: Recorder) -> None:
    agent = _agent(gate_agents)
    car_in, _ = _cars(agent)
    url = agent.app.lpr.url
    cam = LprCameraSim(url, "cam-in")
    before = car_in.pulses()
    try:
        status, doc = cam.send(b'{"AlarmInfoPlate": {"result": ')
        assert status == 400 and "not JSON" in doc["Response_AlarmInfoPlate"]["error"]
        status, doc = cam.send(b'{"foo": 1}')
        assert status == 400 and "AlarmInfoPlate" in doc["Response_AlarmInfoPlate"]["error"]
        status, doc = cam.send(json.dumps({"AlarmInfoPlate": {"result": {"PlateResult": {"license": 5}}}}).encode())
        assert status == 400 and "license" in doc["Response_AlarmInfoPlate"]["error"]
        r = httpx.post(url, content=b"x" * 2_100_000, headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 413 and "limit" in r.json()["Response_AlarmInfoPlate"]["error"]
        # a huge (but allowed) image: the plate is still decided, the image dropped and said so
        status, doc = cam.push("沪A12345", plate_id=1, image=b"\xff\xd8\xff" + b"0" * 600_000)
        assert status == 200
        # an unknown camera
        status, doc = LprCameraSim(url, "stranger").push("沪A12345")
        assert status == 403 and "serialno" in doc["Response_AlarmInfoPlate"]["error"]
        # injection text, odd Unicode and a plate of the wrong length: the guard decides, nothing opens
        for n, text in enumerate(["<script>alert(1)</script>", "沪A1234'; DROP TABLE x;--", "沪A\u202e12345",
                                  "沪A123456789", "沪A1234"]):
            status, doc = cam.push(text, plate_id=900 + n)
            assert status == 200 and doc["Response_AlarmInfoPlate"]["info"] == "no"
            assert agent.app.lanes["in"].pending is not None
            agent.app.lanes["in"].deny_pending("guard")  # the guard waves it away; the next car is a new one
        # GBK bodies from older firmware
        status, doc = LprCameraSim(url, "cam-in").push("_无_", encoding="gbk", plate_id=950)
        assert status == 200
        assert agent.app.lanes["in"].pending is not None and agent.app.lanes["in"].pending.kind == "guard"
        time.sleep(0.3)
        assert car_in.pulses() == before + 1  # only the resident with the huge image
        passages = gate_recorder.wait(lambda: len(_passages(gate_recorder)) >= 7 and _passages(gate_recorder),
                                      what="passages")
        huge = [p for p in passages if p.plate == "沪A12345"]
        assert huge and huge[0].opened and "over the 200000-byte limit" in (huge[0].note or "")
        weird = [p for p in passages if p.decision == "guard"]
        assert all(not p.opened for p in weird)
        assert any("<script>" in p.raw and p.problem for p in weird)
        assert all("\u202e" not in p.raw for p in passages)
        assert agent.app.lpr.counts["malformed"] == 3 and agent.app.lpr.counts["too_large"] == 1
        # pushes only from the cameras' network
        from ipaddress import ip_network

        agent.app.lpr.cfg.allow_from[:] = [ip_network("192.168.10.0/24")]
        status, doc = cam.push("沪A12345", plate_id=999)
        assert status == 403 and "allow_from" in doc["Response_AlarmInfoPlate"]["error"]
    finally:
        cam.close()


def test_guard_open_with_reason_cash_and_close_refused(gate_agents: AgentFactory,
                                                       gate_recorder: Recorder) -> None:
    agent = _agent(gate_agents, tariff={"free_minutes": 0, "hourly_cents": 500, "daily_cap_cents": 4000})
    car_in, car_out = _cars(agent)
    cam_in, cam_out = LprCameraSim(agent.app.lpr.url, "cam-in"), LprCameraSim(agent.app.lpr.url, "cam-out")
    try:
        cam_in.push("_无_", plate_id=1)
        ref = agent.ref
        res = gate_recorder.command(ref, "open_barrier", {"lane": "in", "reason": ""})
        bad = gate_recorder.wait(lambda: [r for r in gate_recorder.results(ref) if r.id == res.id], what="result")[0]
        assert not bad.ok and "reason" in bad.error
        before = car_in.pulses()
        res = gate_recorder.command(ref, "open_barrier", {"lane": "in", "reason": "访客已登记"}, by="guard-li")
        ok = gate_recorder.wait(lambda: [r for r in gate_recorder.results(ref) if r.id == res.id], what="result")[0]
        assert ok.ok and car_in.wait_open(before, 2.0)
        manual = gate_recorder.wait(lambda: [p for p in _passages(gate_recorder) if p.decision == "manual"],
                                    what="manual passage")[0]
        assert manual.by == "guard-li" and manual.note == "访客已登记"
        # the arm is never closed on an occupied loop
        car_in.loop(True)
        time.sleep(0.1)
        res = gate_recorder.command(ref, "close_barrier", {"lane": "in"})
        refused = gate_recorder.wait(lambda: [r for r in gate_recorder.results(ref) if r.id == res.id],
                                     what="close result")[0]
        assert not refused.ok and "occupied" in refused.error
        car_in.loop(False)
        # a temporary car: in, then out with a fee due → cash at the booth opens the exit
        cam_in.push("沪B55555", plate_id=2)
        sess = agent.app.store.open_session("沪B55555")
        assert sess is not None
        cam_out.push("沪B55555", plate_id=3)
        pend = agent.app.lanes["out"].pending
        assert pend is not None and pend.kind == "pay" and pend.verdict.fee_cents == 500
        before = car_out.pulses()
        res = gate_recorder.command(ref, "pay_cash", {"lane": "out"}, by="guard-li")
        gate_recorder.wait(lambda: [r for r in gate_recorder.results(ref) if r.id == res.id and r.ok], what="paid")
        assert car_out.wait_open(before, 2.0)
        pay = gate_recorder.wait(lambda: gate_recorder.events(type="gate.payment"), what="payment")[0]
        assert pay.data["amount_cents"] == 500 and pay.data["method"] == "cash"
        assert agent.app.store.session(sess.id).state == "closed"
    finally:
        cam_in.close()
        cam_out.close()


def test_decisions_keep_working_with_the_broker_down(gate_agents: AgentFactory, mqtt_broker: TestBroker) -> None:
    agent = _agent(gate_agents)
    car_in, _ = _cars(agent)
    cam = LprCameraSim(agent.app.lpr.url, "cam-in")
    rec = Recorder(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, [f"{agent.ref.base}/event"])
    try:
        wait_for(lambda: agent.link.connected, 10, what="agent connected")
        mqtt_broker.broker.stop()
        wait_for(lambda: not agent.link.connected, 10, what="agent noticed the broker is gone")
        t0 = time.monotonic()
        before = car_in.pulses()
        cam.push("沪A12345", plate_id=11)
        assert car_in.wait_open(before, 3.0)
        took = time.monotonic() - t0
        assert took < 3.0, f"resident waited {took:.2f} s with the broker down"  # no network timeout in the way
        read_at = datetime.now(UTC)
        mqtt_broker.broker.start()
        got = rec.wait(lambda: [e for e in rec.events(type="gate.passage") if e.data["plate"] == "沪A12345"],
                       timeout=20, what="the stored passage")
        assert abs((datetime.fromisoformat(got[0].data["at"]) - read_at).total_seconds()) < 2
        time.sleep(0.5)
        assert len([e for e in rec.events(type="gate.passage")]) == 1
    finally:
        cam.close()
        rec.close()
        if not mqtt_broker.broker.running:
            mqtt_broker.broker.start()

