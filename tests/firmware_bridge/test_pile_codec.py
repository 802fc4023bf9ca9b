from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU

from firmware_bridge.pile import (
    Fault,
    FaultEvent,
    Frame,
    FrameParser,
    PileFrameError,
    PortFlag,
    PortsSnapshot,
    PortStatus,
    RelayAck,
    SmokeEvent,
    StatusFlag,
    crc16_modbus,
    decode_frame,
    encode_frame,
)
from firmware_bridge.pile.messages import McuInfo, ResetCause, decode_event, encode_event

FAST = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
PROTOCOL_MD = Path(__file__).resolve().parents[2] / "firmware_bridge" / "pile" / "PROTOCOL.md"
frames = st.builds(Frame, st.integers(0, 255), st.integers(0, 255), st.binary(max_size=250))


def test_crc_is_crc16_modbus() -> None:
    assert crc16_modbus(b"123456789") == 0x4B37
    for data in (b"", b"\x01\x01\x01\x01", bytes(range(200))):
        # pymodbus's RTU CRC as an independent reference (it returns the wire order as a big-endian int)
        assert crc16_modbus(data).to_bytes(2, "little") == FramerRTU.compute_CRC(data).to_bytes(2, "big")


def _examples() -> dict[str, bytes]:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    rows = re.findall(r"^\| ((?:[^|\\]|\\\|)+?) \| `([0-9A-F ]+)` \|$", text, re.M)
    return {what: bytes.fromhex(hexes) for what, hexes in rows}


def test_worked_examples_in_protocol_md() -> None:
    ex = _examples()
    assert len(ex) == 9
    assert ex["HELLO, SEQ 1"] == encode_frame(1, 0x01, b"\x01")
    assert ex["HEARTBEAT, watchdog 30 s, SEQ 4"] == encode_frame(4, 0x02, b"\x1e\x00")
    assert ex["SET_RELAY port 3 on, SEQ 2"] == encode_frame(2, 0x03, b"\x03\x01")
    ack = RelayAck(3, True, True, PortFlag.PLUGGED | PortFlag.RELAY_ON | PortFlag.OUTPUT_LIVE)
    key = "SET_RELAY_OK port 3, requested 1, actual 1, flags PLUGGED\\|RELAY_ON\\|OUTPUT_LIVE"
    assert RelayAck.decode(decode_frame(ex[key]).payload) == ack
    assert ex["READ_PORTS, SEQ 3"] == encode_frame(3, 0x04)
    record = PortStatus(3, PortFlag(7), 106.2, 775, 221.0, 25.0, 12)
    assert ex["port record: port 3, flags 0x07, 106.2 W, 775 mA, 221.0 V, 25.0 °C, 12 Wh"] == record.encode()
    assert PortStatus.decode(record.encode()) == record
    assert decode_event(0, 0x42, decode_frame(ex["EVT_SMOKE active, MCU SEQ 0"]).payload) == SmokeEvent(0, True)
    assert ex["EVENT_ACK of it"] == encode_frame(0, 0x7F, b"\x42")
    assert ex["ERROR for SET_RELAY: BAD_PORT, SEQ 7"] == encode_frame(7, 0xFE, b"\x03\x03")


def test_frame_layout() -> None:
    raw = encode_frame(0x10, 0x84, b"\xaa\xbb")
    assert raw[:2] == b"\xa5\x5a" and raw[2] == 2 and raw[3] == 0x10 and raw[4] == 0x84 and raw[5:7] == b"\xaa\xbb"
    assert int.from_bytes(raw[7:], "little") == crc16_modbus(raw[2:7])
    assert len(raw) == 7 + 2


def test_decode_errors_name_the_problem() -> None:
    good = encode_frame(1, 1, b"\x01")
    for raw, message in [
        (good[:5], "at least 7"),
        (b"\xa5\x5b" + good[2:], "start with A5 5A"),
        (good[:-1], "means 8 bytes"),
        (good[:-1] + bytes([good[-1] ^ 1]), "CRC is"),
        (b"\xa5\x5a\xfb" + bytes(254), "above the maximum"),
    ]:
        with pytest.raises(PileFrameError, match=message):
            decode_frame(raw)
    with pytest.raises(PileFrameError, match="at most 250"):
        encode_frame(1, 1, bytes(251))


def test_port_record_limits_and_missing_temperature() -> None:
    hot = PortStatus(1, PortFlag.TEMP_SENSOR_FAULT, 7000.0, 70000, 230.0, None, 5)
    back = PortStatus.decode(hot.encode())
    assert back.power_w == 6553.5 and back.current_ma == 0xFFFF  # saturated, not wrapped
    assert back.temperature_c is None and back.faults == {Fault.TEMP_SENSOR}
    minus = PortStatus.decode(PortStatus(1, PortFlag(0), 0, 0, 0, -12.5, 0).encode())
    assert minus.temperature_c == -12.5


def test_snapshot_and_other_payloads_round_trip() -> None:
    ports = tuple(PortStatus(n, PortFlag.PLUGGED, 10.0 * n, n, 220.0, 30.0, n) for n in range(1, 11))
    snap = PortsSnapshot(StatusFlag.SMOKE, ports)
    assert PortsSnapshot.decode(snap.encode()) == snap and snap.smoke and snap.port(4).power_w == 40.0
    assert snap.total_power_w == pytest.approx(550.0)
    with pytest.raises(PileFrameError, match="10 ports must be 142 bytes"):
        PortsSnapshot.decode(snap.encode()[:-1])
    info = McuInfo(1, 10, (1, 2, 3), 4, ResetCause.BROWN_OUT, 99)
    assert McuInfo.decode(info.encode()) == info and info.firmware_version == "1.2.3"
    event = FaultEvent(9, 4, Fault.FUSE_BLOWN, True)
    type_, payload = encode_event(event)
    assert decode_event(9, type_, payload) == event
    with pytest.raises(PileFrameError, match="EVT_FAULT payload must be 3 bytes"):
        decode_event(9, type_, payload[:2])


@FAST
@given(frames)
def test_round_trip(frame: Frame) -> None:
    assert decode_frame(frame.encode()) == frame


@FAST
@given(st.lists(st.tuples(st.binary(max_size=40), frames), min_size=1, max_size=5), st.integers(1, 9))
def test_parser_finds_every_frame_among_garbage(parts: list[tuple[bytes, Frame]], chunk: int) -> None:
    stream = b"".join(junk + f.encode() for junk, f in parts)
    parser = FrameParser()
    found: list[Frame] = []
    for i in range(0, len(stream), chunk):
        found += parser.feed(stream[i : i + chunk])
    it = iter(found)
    assert all(any(g == f for g in it) for _, f in parts)


def test_parser_counts_crc_errors_and_garbage() -> None:
    good = encode_frame(5, 0x85, b"\x00")
    bad = bytearray(good)
    bad[5] ^= 0x01
    parser = FrameParser()
    assert parser.feed(b"xyz" + bytes(bad) + good) == [Frame(5, 0x85, b"\x00")]
    assert parser.crc_errors == 1 and parser.garbage_bytes == 3 + len(bad)


def test_a_frame_inside_a_damaged_one_is_found() -> None:
    inner = encode_frame(9, 0x42, b"\x01")
    outer = bytearray(encode_frame(8, 0x84, b"\x00" + inner))
    outer[-1] ^= 0xFF  # the outer frame's CRC fails: resync one byte on, not past the whole frame
    assert FrameParser().feed(bytes(outer)) == [Frame(9, 0x42, b"\x01")]


@FAST
@given(st.lists(st.binary(max_size=80), max_size=6))
def test_fuzz_parser_never_raises(chunks: list[bytes]) -> None:
    parser = FrameParser()
    for c in chunks:
        parser.feed(c)


@FAST
@given(st.binary(max_size=300))
def test_fuzz_decode_raises_only_its_own_error(raw: bytes) -> None:
    try:
        decode_frame(raw)
    except PileFrameError:
        pass


@FAST
@given(st.integers(0x41, 0x45), st.binary(max_size=6))
def test_fuzz_event_payloads(type_: int, payload: bytes) -> None:
    try:
        decode_event(0, type_, payload)
    except PileFrameError:
        pass
