"""Card and QR readers on a serial line (RS-485/USB-CDC modules, Wiegand-to-serial converters).

What such readers send, and what we accept (one credential per frame):

- a line of text ended by CR and/or LF — a QR scanner sends the code's text, a card reader the card number
  in decimal (``0012345678``) or hex (``00BC614E``);
- an STX (0x02) … ETX (0x03) frame around the same text (RDM6300-style modules add 2 hex checksum characters
  after 10 hex data characters: they are checked and removed);
- ``W26:`` / ``W34:`` prefixes of Wiegand converters (the number after the colon).

Card numbers are normalised to decimal without leading zeros, so the same card reads the same from any reader.
Anything else (line noise, a frame over 256 bytes) is counted and ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_FRAME = 256
_HEX = re.compile(r"^[0-9A-Fa-f]{8,16}$")
_DEC = re.compile(r"^[0-9]{4,20}$")


@dataclass(frozen=True)
class Credential:
    kind: Literal["card", "qr"]
    value: str


class FrameError(ValueError):
    pass


def _rdm_checksum_ok(text: str) -> bool:
    data, check = bytes.fromhex(text[:10]), int(text[10:12], 16)
    x = 0
    for b in data:
        x ^= b
    return x == check


def parse_frame(frame: bytes) -> Credential:
    if len(frame) > MAX_FRAME:
        raise FrameError("frame too long")
    raw = frame.strip(b"\x02\x03\r\n \t")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("frame is not text") from None
    if not text or not text.isprintable():
        raise FrameError("empty or unprintable frame")
    if text.startswith("LQ1."):
        return Credential("qr", text)
    m = re.match(r"^W(?:26|34|32):(\w+)$", text)
    if m:
        if m.group(1).isdigit():
            return Credential("card", str(int(m.group(1))))
        text = m.group(1)
    if frame.startswith(b"\x02") and len(text) == 12 and _HEX.match(text[:10] + "00"):
        if not _rdm_checksum_ok(text):
            raise FrameError("card frame checksum is wrong")
        return Credential("card", str(int(text[:10], 16)))
    if _DEC.match(text):
        return Credential("card", str(int(text)))
    if _HEX.match(text):
        return Credential("card", str(int(text, 16)))
    raise FrameError("not a card number or a linli QR code")


class FrameSplitter:
    """Bytes in, complete frames out (CR/LF-ended lines or STX…ETX frames)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.overflows = 0

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for b in data:
            if b == 0x02:
                self._buf = bytearray(b"\x02")
                continue
            if b in (0x0A, 0x0D) or b == 0x03:
                if b == 0x03:
                    self._buf.append(b)
                if self._buf.strip(b"\x02\x03"):
                    out.append(bytes(self._buf))
                self._buf = bytearray()
                continue
            self._buf.append(b)
            if len(self._buf) > MAX_FRAME:
                self.overflows += 1
                self._buf = bytearray()
        return out


def mask_card(number: str) -> str:
    return ("*" * max(0, len(number) - 4)) + number[-4:]
