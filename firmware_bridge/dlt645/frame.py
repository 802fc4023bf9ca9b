"""DL/T 645-2007 frames: encode, decode, and a streaming parser that resynchronises after garbage.

Layout (every byte on the wire)::

    [FE FE FE FE]  68  A0 A1 A2 A3 A4 A5  68  C  L  DATA[L]  CS  16
     wake-up 0-4       address, BCD, LSB first      each +0x33  sum from the first 68 through DATA, mod 256

``C`` (control): bit 7 direction (1 = meter's answer), bit 6 abnormal answer, bit 5 follow-up frame,
bits 4-0 function (0x11 read data, 0x13 read address). :class:`Frame` keeps ``data`` *without* the
+0x33 offset: encoding adds it, decoding removes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from firmware_bridge.dlt645.errors import Dlt645FrameError

START = 0x68
END = 0x16
WAKE = 0xFE
MAX_PREAMBLE = 4
OFFSET = 0x33
HEADER_LEN = 10  # 68 A0..A5 68 C L
MIN_FRAME = HEADER_LEN + 2  # + CS 16

# control codes
READ_DATA = 0x11
READ_DATA_OK = 0x91
READ_DATA_ERROR = 0xD1
READ_ADDRESS = 0x13
READ_ADDRESS_OK = 0x93
DIR_FROM_METER = 0x80
ABNORMAL = 0x40
FOLLOW_UP = 0x20

BROADCAST_ADDRESS = "999999999999"
WILDCARD_ADDRESS = "AAAAAAAAAAAA"
_ADDRESS_NIBBLES = set("0123456789A")


def checksum(frame_body: bytes) -> int:
    """Sum of the bytes from the first 0x68 through the last data byte, mod 256."""
    return sum(frame_body) & 0xFF


def normalize_address(address: str | int) -> str:
    """A 12-digit address text; digits 0-9, and 'A' for the wildcard nibbles of 0xAA bytes."""
    text = f"{address:012d}" if isinstance(address, int) else str(address).strip().upper()
    if len(text) != 12 or not set(text) <= _ADDRESS_NIBBLES:
        raise Dlt645FrameError(f"meter address must be 12 digits (or A wildcards), not {address!r}")
    return text


def encode_address(address: str | int) -> bytes:
    """12 address digits → 6 bytes, least significant pair first: '000000001234' → 34 12 00 00 00 00."""
    text = normalize_address(address)
    return bytes(int(text[i : i + 2], 16) for i in range(10, -1, -2))


def decode_address(raw: bytes) -> str:
    if len(raw) != 6:
        raise Dlt645FrameError(f"address field must be 6 bytes, got {len(raw)}")
    text = "".join(f"{b:02X}" for b in reversed(raw))
    if not set(text) <= _ADDRESS_NIBBLES:
        raise Dlt645FrameError(f"address {raw.hex(' ').upper()} is not BCD")
    return text


@dataclass(frozen=True)
class Frame:
    """One frame. ``data`` is the plain data (without +0x33)."""

    address: str
    control: int
    data: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", normalize_address(self.address))
        if not 0 <= self.control <= 0xFF:
            raise Dlt645FrameError(f"control code must be one byte, not {self.control}")
        if len(self.data) > 0xFF:
            raise Dlt645FrameError(f"data is {len(self.data)} bytes; a frame carries at most 255")

    @property
    def function(self) -> int:
        return self.control & 0x1F

    @property
    def from_meter(self) -> bool:
        return bool(self.control & DIR_FROM_METER)

    @property
    def abnormal(self) -> bool:
        return bool(self.control & ABNORMAL)

    @property
    def follow_up(self) -> bool:
        return bool(self.control & FOLLOW_UP)

    def encode(self, preamble: int = 0) -> bytes:
        return encode_frame(self.address, self.control, self.data, preamble=preamble)


def encode_frame(address: str | int, control: int, data: bytes = b"", *, preamble: int = 0) -> bytes:
    """Bytes on the wire, with ``preamble`` (0-4) FE wake-up bytes in front."""
    if not 0 <= preamble <= MAX_PREAMBLE:
        raise Dlt645FrameError(f"wake-up preamble is 0-{MAX_PREAMBLE} FE bytes, not {preamble}")
    if not 0 <= control <= 0xFF:
        raise Dlt645FrameError(f"control code must be one byte, not {control}")
    if len(data) > 0xFF:
        raise Dlt645FrameError(f"data is {len(data)} bytes; a frame carries at most 255")
    body = bytes([START]) + encode_address(address) + bytes([START, control, len(data)])
    body += bytes((b + OFFSET) & 0xFF for b in data)
    return bytes([WAKE]) * preamble + body + bytes([checksum(body), END])


def _check_at(buf: bytes | bytearray, i: int) -> tuple[int, str] | None:
    """Length of a complete frame at ``buf[i]`` and '' if valid, or its error; None when more bytes are needed."""
    if len(buf) - i < HEADER_LEN:
        return None
    if buf[i] != START:
        return 1, f"frame must start with 68, got {buf[i]:02X}"
    if buf[i + 7] != START:
        return 1, f"second start byte must be 68, got {buf[i + 7]:02X}"
    total = MIN_FRAME + buf[i + 9]
    if len(buf) - i < total:
        return None
    cs = checksum(buf[i : i + total - 2])
    if buf[i + total - 2] != cs:
        return total, f"checksum is {buf[i + total - 2]:02X}, expected {cs:02X}"
    if buf[i + total - 1] != END:
        return total, f"frame must end with 16, got {buf[i + total - 1]:02X}"
    return total, ""


def _next_valid(buf: bytes | bytearray, start: int) -> int | None:
    """Offset of the first complete, valid frame at or after ``start``, if any."""
    j = buf.find(START, start)
    while j >= 0:
        checked = _check_at(buf, j)
        if checked is not None and not checked[1]:
            try:
                decode_address(bytes(buf[j + 1 : j + 7]))
            except Dlt645FrameError:
                pass
            else:
                return j
        j = buf.find(START, j + 1)
    return None


def _build(buf: bytes | bytearray, i: int, total: int) -> Frame:
    address = decode_address(bytes(buf[i + 1 : i + 7]))
    data = bytes((b - OFFSET) & 0xFF for b in buf[i + HEADER_LEN : i + total - 2])
    return Frame(address, buf[i + 8], data)


def decode_frame(raw: bytes) -> Frame:
    """Exactly one frame, optionally behind 0-4 FE bytes. Raises :class:`Dlt645FrameError` on anything else."""
    raw = bytes(raw)
    i = 0
    while i < len(raw) and raw[i] == WAKE:
        i += 1
    if i > MAX_PREAMBLE:
        raise Dlt645FrameError(f"{i} FE wake-up bytes; at most {MAX_PREAMBLE} are allowed")
    checked = _check_at(raw, i)
    if checked is None:
        raise Dlt645FrameError(f"frame is incomplete: {len(raw) - i} bytes after the wake-up bytes")
    total, error = checked
    if error:
        raise Dlt645FrameError(error)
    if i + total != len(raw):
        raise Dlt645FrameError(f"{len(raw) - i - total} bytes after the end of the frame")
    return _build(raw, i, total)


class FrameParser:
    """Feed it bytes as they arrive; it yields every valid frame and skips everything else.

    After a bad checksum or a false start it moves on by one byte, so a valid frame that begins inside
    garbage is still found; a false start whose length byte asks for more bytes than have come is
    dropped as soon as a complete valid frame is seen after it. FE wake-up bytes are skipped silently;
    any other skipped byte counts in ``garbage_bytes``, and ``checksum_errors`` counts complete-looking
    frames whose checksum or end byte was wrong. The parser never raises.
    """

    MAX_BUFFER = 4096

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames = 0
        self.garbage_bytes = 0
        self.checksum_errors = 0
        self.last_error: str | None = None

    def feed(self, data: bytes) -> list[Frame]:
        return list(self.iter_feed(data))

    def iter_feed(self, data: bytes) -> Iterator[Frame]:
        self._buf += data
        buf = self._buf
        i = 0
        while i < len(buf):
            if buf[i] != START:
                if buf[i] != WAKE:
                    self.garbage_bytes += 1
                i += 1
                continue
            checked = _check_at(buf, i)
            if checked is None:
                later = _next_valid(buf, i + 1)
                if later is None:
                    break  # wait for more bytes
                # a false start whose length byte points past a complete frame that follows: skip it
                self.garbage_bytes += later - i
                self.last_error = "false frame start skipped"
                i = later
                continue
            total, error = checked
            if not error:
                try:
                    frame = _build(buf, i, total)
                except Dlt645FrameError as e:  # non-BCD address: not ours to take
                    error = str(e)
                else:
                    i += total
                    self.frames += 1
                    yield frame
                    continue
            if total > 1:
                self.checksum_errors += 1
            self.last_error = error
            self.garbage_bytes += 1
            i += 1
        del buf[:i]
        if len(buf) > self.MAX_BUFFER:
            self.garbage_bytes += len(buf) - self.MAX_BUFFER
            del buf[: len(buf) - self.MAX_BUFFER]

    def reset(self) -> None:
        self._buf.clear()
