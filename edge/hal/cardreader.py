"""Card (and QR) readers, and the one card-number normalisation every kind uses: a card is one identity whether the
gate door, a gate lane or a charging pile reads it.

**The identity of a card** is its number in decimal without leading zeros: a reader that sends ``00BC614E`` (hex),
``0012345678`` (decimal), ``W34:12345678`` or the 34 Wiegand bits of the same card all give ``12345678``.

What readers send (one credential per frame), and how ``CardFormat`` reads it:

- a line of text ended by CR and/or LF — a QR scanner sends the code's text, a card reader the card number;
  ``number: auto`` takes digits-only text as decimal and text with A-F as hex; ``decimal`` and ``hex`` say it
  (a reader that sends ``12345678`` meaning 0x12345678 needs ``hex``);
- an STX (0x02) … ETX (0x03) frame around the same text (RDM6300-style modules add 2 hex checksum characters after
  10 hex data characters: they are checked and removed);
- Wiegand converters: ``W26:`` / ``W34:`` (or ``W32:``) then the number (decimal, or hex with ``number: hex``), or
  the raw frame as 26 or 34 ``0``/``1`` characters: both parity bits are checked and the data bits (24 or 32)
  are the number. Wiegand 26 carries only the low 24 bits of a card: a card above 16,777,215 read by a W26
  reader is a different number than by a W34 reader (a limit of the wiring, said here so a site picks W34).

Text starting with one of ``qr_prefixes`` is a QR code; anything else (line noise, a frame over 256 bytes) is an
error the reader counts and ignores.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

MAX_FRAME = 256
MAX_CARD = 2**64 - 1
_HEX = re.compile(r"^[0-9A-Fa-f]{1,16}$")
_DEC = re.compile(r"^[0-9]{1,20}$")
_WIEGAND = re.compile(r"^W(26|32|34):(.{1,40})$")
_BITS = re.compile(r"^[01]{26}$|^[01]{34}$")


class CardFormat(BaseModel):
    """How a site's readers write card numbers (config: ``card_format`` of a door, a lane or a charger)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    number: Literal["auto", "decimal", "hex"] = Field(
        "auto", title="Card number as sent", description="auto: digits only = decimal, with A-F = hex.")
    qr_prefixes: tuple[str, ...] = Field(("LQ1.",), title="QR code prefixes",
                                         description="Text starting with one of these is a QR code, not a card.")


@dataclass(frozen=True)
class Credential:
    kind: Literal["card", "qr"]
    value: str


class CardError(ValueError):
    """Not a card number (the message says why, without echoing the input)."""


def wiegand(bits: str) -> int:
    """The data of a 26- or 34-bit Wiegand frame (leading even parity, trailing odd parity, both checked)."""
    if not _BITS.match(bits):
        raise CardError("a Wiegand frame has 26 or 34 bits of 0/1")
    half = len(bits) // 2
    if bits[:half].count("1") % 2 != 0:
        raise CardError("Wiegand even parity (first half) is wrong")
    if bits[half:].count("1") % 2 != 1:
        raise CardError("Wiegand odd parity (second half) is wrong")
    return int(bits[1:-1], 2)


def normalise_card(text: str, fmt: CardFormat | None = None) -> str:
    """A card number as sent by any reader → its identity (decimal, no leading zeros). Raises :class:`CardError`."""
    fmt = fmt or CardFormat()
    t = text.strip()
    m = _WIEGAND.match(t)
    if m:
        t = m.group(2)
    t = t.replace(" ", "").replace("-", "").replace(":", "")
    if len(t) in (26, 34) and set(t) <= {"0", "1"}:
        return str(wiegand(t))
    if fmt.number == "decimal" or (fmt.number == "auto" and _DEC.match(t)):
        if not _DEC.match(t):
            raise CardError("card number is not decimal (card_format.number: decimal)")
        value = int(t)
    elif _HEX.match(t):
        value = int(t, 16)
    else:
        raise CardError("not a card number (1-16 hex or 1-20 decimal digits)")
    if value > MAX_CARD:
        raise CardError("card number is over 64 bits")
    return str(value)


def _rdm_checksum_ok(text: str) -> bool:
    data, check = bytes.fromhex(text[:10]), int(text[10:12], 16)
    x = 0
    for b in data:
        x ^= b
    return x == check


def parse_frame(frame: bytes, fmt: CardFormat | None = None) -> Credential:
    fmt = fmt or CardFormat()
    if len(frame) > MAX_FRAME:
        raise CardError("frame too long")
    raw = frame.strip(b"\x02\x03\r\n \t")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CardError("frame is not text") from None
    if not text or not text.isprintable():
        raise CardError("empty or unprintable frame")
    if any(text.startswith(p) for p in fmt.qr_prefixes):
        return Credential("qr", text)
    if frame.startswith(b"\x02") and len(text) == 12 and _HEX.match(text):
        if not _rdm_checksum_ok(text):
            raise CardError("card frame checksum is wrong")
        return Credential("card", str(int(text[:10], 16)))
    return Credential("card", normalise_card(text, fmt))


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


class _Port(Protocol):
    def read(self, n: int) -> bytes: ...


class CardReader:
    """A reader on a serial port: ``run()`` (in a thread) hands every credential to ``on_credential`` and every
    unreadable frame to ``on_error``; a port error is retried after a second."""

    def __init__(self, name: str, port: _Port, fmt: CardFormat | None, on_credential: Callable[[Credential], None],
                 on_error: Callable[[str], None] | None = None, stop: threading.Event | None = None) -> None:
        self.name = name
        self.port = port
        self.fmt = fmt or CardFormat()
        self.on_credential = on_credential
        self.on_error = on_error
        self.errors = 0
        self._stop = stop or threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"card-reader-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)

    def feed(self, splitter: FrameSplitter, data: bytes) -> None:
        for frame in splitter.feed(data):
            try:
                cred = parse_frame(frame, self.fmt)
            except CardError as exc:
                self.errors += 1
                log.info("card reader %s: ignored a frame: %s", self.name, exc)
                if self.on_error is not None:
                    self.on_error(str(exc))
                continue
            try:
                self.on_credential(cred)
            except Exception:
                log.exception("card reader %s: handling a credential failed", self.name)

    def run(self) -> None:
        splitter = FrameSplitter()
        while not self._stop.is_set():
            try:
                data = self.port.read(64)
            except OSError as exc:
                self.errors += 1
                log.warning("card reader %s: %s", self.name, exc)
                self._stop.wait(1.0)
                continue
            self.feed(splitter, data)
