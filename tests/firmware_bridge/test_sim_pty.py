from __future__ import annotations

import os
import time

import pytest
import serial

from firmware_bridge.sim.pty import PtyPair, PtyResponder


def test_pair_is_raw_both_ways() -> None:
    data = bytes(range(256)) * 4
    with PtyPair() as pair:
        assert pair.device_path.startswith("/dev/")
        ser = serial.Serial(pair.device_path, 9600, timeout=1)
        ser.write(data)
        assert pair.read_exactly(len(data)) == data
        pair.write(data)
        assert ser.read(len(data)) == data
        ser.close()


def test_read_times_out_empty() -> None:
    with PtyPair() as pair:
        t0 = time.monotonic()
        assert pair.read(timeout=0.1) == b""
        assert 0.08 <= time.monotonic() - t0 < 0.5


def test_write_times_out_when_nobody_reads() -> None:
    with PtyPair() as pair, pytest.raises(TimeoutError, match=r"not taken within 0\.2 s"):
        pair.write(b"x" * 1_000_000, timeout=0.2)


def test_close_makes_the_device_vanish() -> None:
    pair = PtyPair()
    path = pair.device_path
    assert os.path.exists(path)
    pair.close()
    pair.close()
    assert pair.closed and not os.path.exists(path)
    with pytest.raises(OSError, match="closed"):
        pair.read()
    with pytest.raises(OSError, match="closed"):
        pair.write(b"x")


def test_responder_with_a_callback() -> None:
    with PtyPair() as pair, PtyResponder(pair, lambda b: b.upper()) as resp:
        ser = serial.serial_for_url(resp.device_path, timeout=1)
        ser.write(b"ping\n")
        assert ser.read_until(b"\n") == b"PING\n"
        resp.send(b"EVENT\n")  # unsolicited, as an MCU reporting a plug-in
        assert ser.read_until(b"\n") == b"EVENT\n"
        ser.close()
        assert resp.bytes_in == 5 and resp.bytes_out == 11


class _FramedEcho(PtyResponder):
    """A subclass the way MCU simulators use it: buffer until a frame is complete, then answer."""

    def __init__(self, pair: PtyPair) -> None:
        super().__init__(pair, name="framed-echo")
        self.buf = bytearray()
        self.frames: list[bytes] = []

    def handle(self, data: bytes) -> bytes | None:
        self.buf += data
        if b"\x16" not in self.buf:
            return None
        frame, _, rest = bytes(self.buf).partition(b"\x16")
        self.buf = bytearray(rest)
        if frame == b"\x68boom":
            raise ValueError("simulated firmware bug")
        self.frames.append(frame)
        return b"ACK" + frame[1:] + b"\x16"


def test_responder_subclass_and_errors_do_not_kill_it() -> None:
    with PtyPair() as pair, _FramedEcho(pair) as resp:
        ser = serial.serial_for_url(pair.device_path, timeout=1)
        ser.write(b"\x68ab")
        time.sleep(0.1)
        ser.write(b"c\x16")
        assert ser.read_until(b"\x16") == b"ACKabc\x16"
        ser.write(b"\x68boom\x16")
        ser.timeout = 0.2
        assert ser.read(1) == b""  # no answer
        ser.timeout = 1
        ser.write(b"\x68ok\x16")
        assert ser.read_until(b"\x16") == b"ACKok\x16"
        assert resp.errors == 1 and "simulated firmware bug" in (resp.last_error or "")
        assert resp.frames == [b"\x68abc", b"\x68ok"]
        ser.close()
    assert not resp.is_alive()


def test_responder_needs_a_handler() -> None:
    with PtyPair() as pair, pytest.raises(TypeError, match="callback"):
        PtyResponder(pair)


def test_responder_stops_when_the_pair_closes() -> None:
    pair = PtyPair()
    resp = PtyResponder(pair, lambda b: None, poll_s=0.02)
    resp.start()
    pair.close()
    resp.join(1.0)
    assert not resp.is_alive()
