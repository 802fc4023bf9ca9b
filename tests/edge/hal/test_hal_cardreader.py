"""One card, one identity: every reader form of card 0x00BC614E is 12345678, for the door, the lanes and the
charger alike (edge.hal.cardreader); Wiegand parity checked; formats from config; real bytes over a pty."""

from __future__ import annotations

import threading

import pytest

from edge.hal.cardreader import CardError, CardFormat, CardReader, Credential, normalise_card, parse_frame, wiegand
from edge.hal.config import SerialConfig
from edge.hal.serialport import SerialPort
from firmware_bridge.sim.pty import PtyPair
from linli.testing import wait_for


def _w(data: int, bits: int) -> str:
    body = format(data, f"0{bits - 2}b")
    half = (bits - 2) // 2
    even = "1" if body[:half].count("1") % 2 else "0"
    odd = "0" if body[half:].count("1") % 2 else "1"
    return even + body + odd


@pytest.mark.parametrize("sent", ["00BC614E", "00bc614e", "BC614E", "0012345678", "12345678", "W34:12345678",
                                  "W26:12345678", "W34:00BC614E", "00 BC 61 4E", _w(12345678, 34),
                                  _w(12345678, 26), "W34:" + _w(12345678, 34)])
def test_every_form_of_one_card_is_one_identity(sent: str) -> None:
    assert normalise_card(sent) == "12345678"


def test_formats_from_config() -> None:
    assert normalise_card("12345678", CardFormat(number="hex")) == str(0x12345678)
    assert normalise_card("00BC614E", CardFormat(number="hex")) == "12345678"
    with pytest.raises(CardError, match="decimal"):
        normalise_card("00BC614E", CardFormat(number="decimal"))


def test_wiegand_parity_is_checked() -> None:
    good = _w(0xBC614E, 26)
    assert wiegand(good) == 0xBC614E
    flipped = good[:5] + ("0" if good[5] == "1" else "1") + good[6:]
    with pytest.raises(CardError, match="parity"):
        wiegand(flipped)
    with pytest.raises(CardError):
        normalise_card("1" * 27)


def test_frames_qr_and_noise() -> None:
    assert parse_frame(b"\x020A0B0C0D0E0E\x03").value == str(0x0A0B0C0D0E)
    assert parse_frame(b"LQ1.abc") == Credential("qr", "LQ1.abc")
    with pytest.raises(CardError):
        parse_frame(b"hello world")
    with pytest.raises(CardError, match="64 bits"):
        normalise_card("9" * 20)


def test_reader_on_a_pty_hands_over_cards_and_counts_noise() -> None:
    got: list[Credential] = []
    errors: list[str] = []
    with PtyPair() as pair:
        port = SerialPort("cards", SerialConfig(url=pair.device_path, timeout_s=0.05))
        port.open()
        reader = CardReader("t", port, CardFormat(), got.append, errors.append, stop=threading.Event())
        reader.start()
        try:
            pair.write(b"00BC614E\r\n\x02junk!\x03W34:" + _w(12345678, 34).encode() + b"\r\n")
            pair.write(b"W34:" + b"0" * 34 + b"\r\n")  # bad parity
            wait_for(lambda: len(got) == 2 and len(errors) == 2, 5, what="two cards, two errors")
        finally:
            reader.stop()
            port.close()
    assert [c.value for c in got] == ["12345678", "12345678"]
    assert reader.errors == 2
