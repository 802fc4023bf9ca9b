"""Door access on a real agent: cards and QR codes from a reader on a pty (bytes as real readers send them), the
exit button, held-open and forced-open alarms, the fire input; QR tokens signed by the server verify offline."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edge.hal.cardreader import CardError as FrameError
from edge.hal.cardreader import FrameSplitter, parse_frame
from edge.hal.sim import PinBoard
from edge.runtime.harness import AgentFactory, Recorder
from firmware_bridge.sim.pty import PtyPair
from linli.contract.gate import GateSettings, ListEntry, ListsSyncArgs
from linli.gate import qr
from linli.testing import wait_for

from .conftest import HAL, gate_app

KEY = qr.new_key()


def test_reader_frames() -> None:
    sp = FrameSplitter()
    frames = sp.feed(b"0012345678\r\n\x020A0B0C0D0E0E\x03W26:99\nLQ1.x\r")
    assert [parse_frame(f).value for f in frames[:3]] == ["12345678", str(0x0A0B0C0D0E), "99"]
    assert parse_frame(frames[3]).kind == "qr"
    with pytest.raises(FrameError, match="checksum"):
        parse_frame(b"\x020A0B0C0D0E00\x03")
    with pytest.raises(FrameError):
        parse_frame(b"hello world")
    assert sp.feed(b"9" * 400) == [] and sp.overflows == 1


def test_qr_tokens() -> None:
    now = datetime.now(UTC)
    tok = qr.issue("site-a", "east-door", "k1", KEY, now + timedelta(minutes=5))
    assert qr.verify(tok, {"k1": KEY}, "site-a", "east-door", now).kid == "k1"
    for text, why in [(tok[:-2] + "AA", "signature"), (tok, "expired"), ("LQ1.nope", "not a linli")]:
        with pytest.raises(qr.QrError, match=why):
            qr.verify(text, {"k1": KEY}, "site-a", "east-door", now + timedelta(minutes=10 if why == "expired" else 0))
    with pytest.raises(qr.QrError, match="door"):
        qr.verify(tok, {"k1": KEY}, "site-a", "west-door", now)
    with pytest.raises(qr.QrError, match="site"):
        qr.verify(tok, {"k1": KEY}, "site-b", "east-door", now)
    with pytest.raises(qr.QrError, match="unknown key"):
        qr.verify(tok, {"k2": KEY}, "site-a", "east-door", now)


def test_door_on_an_agent(gate_agents: AgentFactory, gate_recorder: Recorder) -> None:
    pty = PtyPair()
    hal: dict[str, Any] = {**HAL, "serial": {"reader": {"url": pty.device_path, "baudrate": 9600, "timeout_s": 0.1}}}
    app = gate_app()
    app["door"] = {**app["door"], "reader": "reader"}
    agent = gate_agents.make(hal=hal, app=app)
    board = PinBoard()
    door = agent.app.door
    now = datetime.now(UTC)
    try:
        agent.app.store.apply_sync(ListsSyncArgs(base_version=0, version=1, upserts=[
            ListEntry(list="card", key="12345678", valid_from=now - timedelta(days=1), valid_to=now + timedelta(days=9),
                      label="张阿姨 5-302"),
            ListEntry(list="card", key="87654321", valid_from=now - timedelta(days=9),
                      valid_to=now - timedelta(days=1)),
        ], settings=GateSettings(qr_keys={"k1": KEY})))

        def access() -> list[Any]:
            return gate_recorder.events(type="door.access")

        pty.write(b"0012345678\r\n")  # a valid card
        wait_for(lambda: agent.hal.relays["door_lock"].is_on, 3, what="lock released")
        pty.write(b"87654321\r\n")  # expired
        pty.write(b"W26:555\r\n")  # unknown
        tok = qr.issue(agent.ref.site, "east-door", "k1", KEY, now + timedelta(minutes=10))
        pty.write(tok.encode() + b"\r")
        forged = qr.issue(agent.ref.site, "east-door", "k1", qr.new_key(), now + timedelta(minutes=10))
        pty.write(forged.encode() + b"\r")
        got = gate_recorder.wait(lambda: len(access()) >= 5 and access(), what="5 door events")
        by_reason = {e.data["reason"]: e.data for e in got}
        assert by_reason["card_valid"]["granted"] and by_reason["card_valid"]["credential"] == "****5678"
        assert by_reason["card_valid"]["label"] == "张阿姨 5-302"
        assert not by_reason["card_expired"]["granted"] and not by_reason["card_unknown"]["granted"]
        assert by_reason["qr_valid"]["granted"] and not by_reason["qr_invalid"]["granted"]
        # the lock closes again after unlock_s
        wait_for(lambda: not agent.hal.relays["door_lock"].is_on, 4, what="lock closed again")
        # exit button → unlock; opening within the grant is fine, held open too long → alarm
        board.set_input(13, True)
        board.set_input(13, False)
        wait_for(lambda: agent.hal.relays["door_lock"].is_on, 2, what="exit button unlock")
        board.set_input(19, True)
        gate_recorder.wait(lambda: gate_recorder.events(type="door.held_open"), timeout=8, what="held open alarm")
        assert not gate_recorder.events(type="door.forced_open")
        board.set_input(19, False)
        wait_for(lambda: not agent.hal.relays["door_lock"].is_on, 4, what="locked")
        time.sleep(0.4)
        board.set_input(19, True)  # opened while locked: forced
        gate_recorder.wait(lambda: gate_recorder.events(type="door.forced_open"), what="forced open alarm")
        board.set_input(19, False)
        # fire: unlocks and stays unlocked while active
        board.set_input(26, True)
        wait_for(lambda: agent.hal.relays["door_lock"].is_on, 2, what="fire unlock")
        time.sleep(1.5)
        assert agent.hal.relays["door_lock"].is_on and agent.app.state() == "fire_unlocked"
        board.set_input(26, False)
        wait_for(lambda: not agent.hal.relays["door_lock"].is_on, 2, what="locked after the fire alarm")
        fire = gate_recorder.wait(lambda: len(gate_recorder.events(type="door.fire")) >= 2 and
                                  gate_recorder.events(type="door.fire"), what="fire events")
        assert fire[0].severity == "alarm"
        assert door.counts["granted"] >= 3
    finally:
        pty.close()
