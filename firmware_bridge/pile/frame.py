"""Frames of the pile MCU link (see PROTOCOL.md): ``A5 5A LEN SEQ TYPE PAYLOAD[LEN] CRC_L CRC_H``.

The CRC is CRC-16/MODBUS over LEN, SEQ, TYPE and PAYLOAD, sent low byte first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from firmware_bridge.pile.crc import crc16_modbus
from firmware_bridge.pile.errors import PileFrameError

SOF = b"\xa5\x5a"
MAX_PAYLOAD = 250
OVERHEAD = 7  # SOF(2) LEN SEQ TYPE CRC(2)


@dataclass(frozen=True)
class Frame:
    seq: int
    type: int
    payload: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= 0xFF:
            raise PileFrameError(f"sequence number must be 0-255, not {self.seq}")
        if not 0 <= self.type <= 0xFF:
            raise PileFrameError(f"message type must be 0-255, not {self.type}")
        if len(self.payload) > MAX_PAYLOAD:
            raise PileFrameError(f"payload is {len(self.payload)} bytes; at most {MAX_PAYLOAD}")

    def encode(self) -> bytes:
        return encode_frame(self.seq, self.type, self.payload)


def encode_frame(seq: int, type_: int, payload: bytes = b"") -> bytes:
    Frame(seq, type_, payload)  # validates
    body = bytes([len(payload), seq, type_]) + bytes(payload)
    return SOF + body + crc16_modbus(body).to_bytes(2, "little")


def decode_frame(raw: bytes) -> Frame:
    """Exactly one frame; raises :class:`PileFrameError` on anything else."""
    raw = bytes(raw)
    if len(raw) < OVERHEAD:
        raise PileFrameError(f"a frame is at least {OVERHEAD} bytes, got {len(raw)}")
    if raw[:2] != SOF:
        raise PileFrameError(f"frame must start with A5 5A, got {raw[:2].hex(' ').upper()}")
    length = raw[2]
    if length > MAX_PAYLOAD:
        raise PileFrameError(f"LEN {length} is above the maximum {MAX_PAYLOAD}")
    if len(raw) != OVERHEAD + length:
        raise PileFrameError(f"LEN {length} means {OVERHEAD + length} bytes, got {len(raw)}")
    body, crc = raw[2:-2], int.from_bytes(raw[-2:], "little")
    if crc16_modbus(body) != crc:
        raise PileFrameError(f"CRC is {crc:04X}, expected {crc16_modbus(body):04X}")
    return Frame(raw[3], raw[4], raw[5:-2])


class FrameParser:
    """Streaming parser: yields every valid frame, skips and counts the rest, never raises.

    ``garbage_bytes`` counts bytes skipped while hunting for a frame; ``crc_errors`` counts frames that
    had a start and a plausible length but a wrong CRC (the parser then moves one byte on, so a frame
    starting inside the bad one is still found).
    """

    MAX_BUFFER = 4096

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames = 0
        self.garbage_bytes = 0
        self.crc_errors = 0

    def feed(self, data: bytes) -> list[Frame]:
        return list(self.iter_feed(data))

    def iter_feed(self, data: bytes) -> Iterator[Frame]:
        buf = self._buf
        buf += data
        i = 0
        while True:
            j = buf.find(SOF, i)
            if j < 0:
                # keep a trailing A5: it may be the first half of a start
                keep = 1 if len(buf) > i and buf[-1] == SOF[0] else 0
                self.garbage_bytes += len(buf) - i - keep
                i = len(buf) - keep
                break
            self.garbage_bytes += j - i
            i = j
            if len(buf) - i < 3:
                break
            length = buf[i + 2]
            if length > MAX_PAYLOAD:
                self.garbage_bytes += 1
                i += 1
                continue
            total = OVERHEAD + length
            if len(buf) - i < total:
                later = self._next_valid(buf, i + 1)
                if later is None:
                    break
                self.garbage_bytes += later - i
                i = later
                continue
            body = buf[i + 2 : i + total - 2]
            if crc16_modbus(body) != int.from_bytes(buf[i + total - 2 : i + total], "little"):
                self.crc_errors += 1
                self.garbage_bytes += 1
                i += 1
                continue
            frame = Frame(buf[i + 3], buf[i + 4], bytes(buf[i + 5 : i + total - 2]))
            i += total
            self.frames += 1
            yield frame
        del buf[:i]
        if len(buf) > self.MAX_BUFFER:
            self.garbage_bytes += len(buf) - self.MAX_BUFFER
            del buf[: len(buf) - self.MAX_BUFFER]

    @staticmethod
    def _next_valid(buf: bytearray, start: int) -> int | None:
        """Offset of the first complete, CRC-valid frame at or after ``start``."""
        j = buf.find(SOF, start)
        while j >= 0:
            if len(buf) - j >= OVERHEAD:
                length = buf[j + 2]
                total = OVERHEAD + length
                if length <= MAX_PAYLOAD and len(buf) - j >= total:
                    body = buf[j + 2 : j + total - 2]
                    if crc16_modbus(body) == int.from_bytes(buf[j + total - 2 : j + total], "little"):
                        return j
            j = buf.find(SOF, j + 1)
        return None

    def reset(self) -> None:
        self._buf.clear()
