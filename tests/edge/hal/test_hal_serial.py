from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from edge.hal.config import SerialConfig
from edge.hal.serialport import SerialPort, SerialPortError
from firmware_bridge.sim.pty import PtyPair

ALL_BYTES = bytes(range(256))  # CR, LF, ^C, XON/XOFF, DEL...: a raw line must pass them all untouched


def _port(url: str, **kw: object) -> SerialPort:
    return SerialPort("mcu", SerialConfig(url=url, **kw))


def test_round_trip_over_a_pty_both_ways() -> None:
    with PtyPair() as pair:
        port = _port(pair.device_path, baudrate=115200, timeout_s=0.2)
        port.open()
        assert port.is_open
        assert port.write(ALL_BYTES) == 256
        assert pair.read_exactly(256, timeout=2) == ALL_BYTES
        pair.write(ALL_BYTES[::-1])
        assert port.read(256) == ALL_BYTES[::-1]
        pair.write(b"\x68\x01\x02\x16REST")
        assert port.read_until(b"\x16") == b"\x68\x01\x02\x16"
        assert port.read(10) == b"REST"
        assert port.read(4) == b""  # nothing there: empty after the timeout, not an error
        snap = port.snapshot()
        assert (snap["bytes_out"], snap["bytes_in"], snap["errors"]) == (256, 256 + 8, 0)
        port.close()
        port.close()
        assert not port.is_open


def test_read_until_size_limit_and_reset_input() -> None:
    with PtyPair() as pair:
        port = _port(pair.device_path)
        pair.write(b"stale bytes")
        time.sleep(0.05)
        port.open()
        port.reset_input()
        pair.write(b"abcdef\n")
        assert port.read_until(b"\n", size=3) == b"abc"
        assert port.read_until(b"\n") == b"def\n"
        port.close()


def test_vanished_port_raises_then_reopens_when_it_comes_back(tmp_path: Path) -> None:
    link = tmp_path / "ttyMCU"  # like a udev /dev/serial/by-id link
    first = PtyPair()
    link.symlink_to(first.device_path)
    port = _port(str(link))
    port.write(b"hello")
    assert first.read_exactly(5) == b"hello"
    first.close()  # the USB adapter is pulled
    with pytest.raises(SerialPortError) as exc:
        port.read(1)
    assert isinstance(exc.value, OSError) and exc.value.port == "mcu"
    assert str(exc.value).startswith("serial 'mcu': read failed on ")
    assert not port.is_open
    with pytest.raises(SerialPortError, match=r"serial 'mcu': cannot open .*ttyMCU"):
        port.write(b"x")  # reopening fails while it is gone
    with PtyPair() as second:  # plugged back in
        link.unlink()
        link.symlink_to(second.device_path)
        assert port.write(b"again") == 5
        assert second.read_exactly(5) == b"again"
        snap = port.snapshot()
        assert snap["errors"] == 2 and snap["opens"] == 2 and "cannot open" in snap["last_error"]
        port.close()


def test_write_to_a_vanished_port() -> None:
    pair = PtyPair()
    port = _port(pair.device_path)
    port.open()
    pair.close()
    assert not os.path.exists(pair.device_path)
    with pytest.raises(SerialPortError, match="serial 'mcu': write failed"):
        port.write(b"\x01\x03")


def test_loop_url() -> None:
    port = _port("loop://", baudrate=2400, parity="E")
    assert port.write(b"\x68ping\x16") == 6
    assert port.read(6) == b"\x68ping\x16"
    assert port.snapshot()["bytes_in"] == 6
    port.close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [("/dev/ttyNOPE9", "No such file"), ("bogus://x", "protocol 'bogus' not known")],
)
def test_bad_url_is_a_clear_error(url: str, reason: str) -> None:
    port = _port(url)
    with pytest.raises(SerialPortError) as exc:
        port.open()
    assert f"serial 'mcu': cannot open {url}" in str(exc.value) and reason in str(exc.value)
    assert port.snapshot()["errors"] == 1
