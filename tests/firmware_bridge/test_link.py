from __future__ import annotations

import pytest
import serial

from firmware_bridge.errors import BridgeError, LinkIOError
from firmware_bridge.link import SerialLink
from firmware_bridge.sim.pty import PtyPair, PtyResponder


def test_url_link_reads_what_is_waiting() -> None:
    with PtyPair() as pair:
        link = SerialLink(pair.device_path, baudrate=115200)
        assert link.label == f"'{pair.device_path}'"
        assert link.read_some(0.05) == b""
        pair.write(b"hello world")
        assert link.read_some(0.5) == b"hello world"  # first byte, then everything already waiting
        link.write(b"ping")
        assert pair.read_exactly(4) == b"ping"
        link.close()


def test_tick_hook_sends_unsolicited_bytes() -> None:
    class Beacon(PtyResponder):
        def handle(self, data: bytes) -> bytes | None:
            return None

        def tick(self) -> bytes | None:
            return b"!"

    with PtyPair() as pair, Beacon(pair, poll_s=0.01):
        link = SerialLink(pair.device_path)
        assert link.read_some(0.5).startswith(b"!")
        link.close()


def test_rejects_ports_it_cannot_use() -> None:
    with pytest.raises(ValueError, match="needs a read timeout"):
        SerialLink(serial.serial_for_url("loop://", timeout=None))
    with pytest.raises(TypeError, match="port must be"):
        SerialLink(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        SerialLink("")


def test_io_errors_name_the_port() -> None:
    link = SerialLink("/dev/nonexistent-tty", name="pile")
    with pytest.raises(LinkIOError, match=r"^'pile' \(/dev/nonexistent-tty\): open failed") as ei:
        link.read_some(0.01)
    assert isinstance(ei.value, BridgeError) and ei.value.port == "'pile' (/dev/nonexistent-tty)"


def test_pulled_adapter_is_a_link_error() -> None:
    pair = PtyPair()
    link = SerialLink(pair.device_path)
    link.open()  # pyserial drops what was waiting before the port opened, as on real hardware
    pair.write(b"x")
    assert link.read_some(0.2) == b"x"
    pair.close()
    with pytest.raises(LinkIOError, match="failed"):
        for _ in range(3):
            link.write(b"y")
            link.read_some(0.05)
    link.close()
