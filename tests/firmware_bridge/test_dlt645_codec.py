from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.dlt645 import (
    BcdError,
    Dlt645FrameError,
    Frame,
    FrameParser,
    checksum,
    data_id,
    decode_bcd,
    decode_frame,
    encode_bcd,
    encode_frame,
)
from firmware_bridge.dlt645.frame import decode_address, encode_address

FAST = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
EXAMPLE = bytes.fromhex("68 34 12 00 00 00 00 68 11 04 33 33 33 33 B2 16")  # as given in domain.md §3

addresses = st.text("0123456789", min_size=12, max_size=12)
frames = st.builds(Frame, addresses, st.integers(0, 255), st.binary(max_size=64))


def test_example_frame_checksum_is_wrong_in_the_reference() -> None:
    # 68+34+12+00*4+68+11+04+33*4 = 0x1F7: the checksum must be F7, not B2
    assert checksum(EXAMPLE[:-2]) == 0xF7
    with pytest.raises(Dlt645FrameError, match="checksum is B2, expected F7"):
        decode_frame(EXAMPLE)
    fixed = EXAMPLE[:-2] + b"\xf7\x16"
    frame = decode_frame(fixed)
    assert frame == Frame("000000001234", 0x11, b"\x00\x00\x00\x00")  # read DI 00000000 (combined active total)
    assert encode_frame("000000001234", 0x11, bytes(4)) == fixed


def test_encode_read_forward_energy_byte_by_byte() -> None:
    raw = encode_frame("000000001234", 0x11, data_id("00010000").to_bytes(), preamble=4)
    assert raw.hex(" ").upper() == "FE FE FE FE 68 34 12 00 00 00 00 68 11 04 33 33 34 33 F8 16"


def test_address_is_bcd_little_endian() -> None:
    assert encode_address("123456789012") == bytes.fromhex("12 90 78 56 34 12")
    assert decode_address(bytes.fromhex("12 90 78 56 34 12")) == "123456789012"
    assert encode_address(1234) == bytes.fromhex("34 12 00 00 00 00")
    assert encode_address("AAAAAAAAAAAA") == b"\xaa" * 6
    with pytest.raises(Dlt645FrameError, match="12 digits"):
        encode_address("12345")
    with pytest.raises(Dlt645FrameError, match="not BCD"):
        decode_address(bytes.fromhex("1F 00 00 00 00 00"))


def test_decode_rejects_each_kind_of_damage() -> None:
    good = encode_frame("000000001234", 0x91, bytes.fromhex("00 00 01 00 56 34 12 00"))
    assert decode_frame(good).data == bytes.fromhex("00 00 01 00 56 34 12 00")
    cases = {
        "start with 68": b"\x00" + good[1:],
        "second start byte": good[:7] + b"\x00" + good[8:],
        "end with 16": good[:-1] + b"\x17",
        "incomplete": good[:-3],
        "after the end": good + b"\x00",
        "wake-up bytes": b"\xfe" * 5 + good,
    }
    for message, raw in cases.items():
        with pytest.raises(Dlt645FrameError, match=message):
            decode_frame(raw)
    for n in range(5):
        assert decode_frame(b"\xfe" * n + good).control == 0x91


def test_control_code_bits() -> None:
    ok = Frame("000000001234", 0x91)
    err = Frame("000000001234", 0xD1, b"\x02")
    assert ok.from_meter and not ok.abnormal and ok.function == 0x11
    assert err.from_meter and err.abnormal and err.function == 0x11
    assert not Frame("000000001234", 0x11).from_meter


@pytest.mark.parametrize(
    ("raw", "decimals", "signed", "value"),
    [
        ("56 34 12 00", 2, False, Decimal("1234.56")),  # energy XXXXXX.XX
        ("01 22", 1, False, Decimal("220.1")),  # voltage XXX.X
        ("00 15 00", 3, True, Decimal("1.500")),  # current XXX.XXX
        ("00 15 80", 3, True, Decimal("-1.500")),  # sign bit in the MSB
        ("34 12 80", 4, True, Decimal("-0.1234")),  # power XX.XXXX kW
    ],
)
def test_bcd_fields(raw: str, decimals: int, signed: bool, value: Decimal) -> None:
    data = bytes.fromhex(raw)
    assert decode_bcd(data, decimals, signed) == value
    assert encode_bcd(value, len(data), decimals, signed) == data


def test_invalid_bcd_nibble_is_a_clear_error() -> None:
    with pytest.raises(BcdError, match=r"invalid BCD byte 0x1A at offset 1 of 00 1A"):
        decode_bcd(bytes.fromhex("00 1A"))
    with pytest.raises(BcdError, match="does not fit"):
        encode_bcd(Decimal("1000.0"), 2, 1)
    with pytest.raises(BcdError, match="negative"):
        encode_bcd(-1, 2)
    with pytest.raises(BcdError, match="does not fit"):
        encode_bcd(Decimal("-800.000"), 3, 3, signed=True)  # the sign bit leaves 7 as the top digit


@FAST
@given(st.integers(0, 10**8 - 1), st.integers(0, 4), st.booleans())
def test_bcd_round_trip(n: int, decimals: int, negative: bool) -> None:
    value = Decimal(n).scaleb(-decimals) * (-1 if negative and n < 8 * 10**7 else 1)
    signed = value < 0 or negative
    if signed and n >= 8 * 10**7:
        return
    assert decode_bcd(encode_bcd(value, 4, decimals, signed), decimals, signed) == value


@FAST
@given(frames, st.integers(0, 4))
def test_encode_decode_round_trip(frame: Frame, preamble: int) -> None:
    assert decode_frame(frame.encode(preamble)) == frame


@FAST
@given(st.lists(st.tuples(st.binary(max_size=40), frames, st.integers(0, 4)), min_size=1, max_size=6),
       st.binary(max_size=40))  # fmt: skip
def test_parser_finds_every_frame_among_garbage(parts: list[tuple[bytes, Frame, int]], tail: bytes) -> None:
    stream = b"".join(junk + f.encode(pre) for junk, f, pre in parts) + tail
    found = FrameParser().feed(stream)
    expected = [f for _, f, _ in parts]
    # garbage may by chance contain a valid frame too; every real frame is found, in order
    it = iter(found)
    assert all(any(g == f for g in it) for f in expected)


@FAST
@given(st.lists(st.tuples(st.binary(max_size=30), frames), min_size=1, max_size=4), st.integers(1, 7))
def test_parser_handles_any_chunking(parts: list[tuple[bytes, Frame]], chunk: int) -> None:
    stream = b"".join(junk + f.encode(2) for junk, f in parts)
    parser = FrameParser()
    found = []
    for i in range(0, len(stream), chunk):
        found += parser.feed(stream[i : i + chunk])
    it = iter(found)
    assert all(any(g == f for g in it) for _, f in parts)


def test_parser_counts_garbage_and_checksum_errors() -> None:
    good = encode_frame("000000001234", 0x91, bytes.fromhex("00 01 00 00 01 22"))
    bad = bytearray(good)
    bad[-2] ^= 0xFF
    parser = FrameParser()
    assert parser.feed(b"\x01\x02\x03" + bytes(bad) + b"\xfe\xfe" + good) == [decode_frame(good)]
    assert parser.checksum_errors == 1
    assert parser.garbage_bytes == 3 + len(bad)


def test_a_frame_inside_a_damaged_one_is_found() -> None:
    inner = encode_frame("000000001234", 0x91, b"\x00\x01\x00\x00")
    outer = bytearray(encode_frame("000000005678", 0x91, bytes((b - 0x33) & 0xFF for b in inner)))
    outer[-2] ^= 0xFF  # the outer checksum fails: resync one byte on, not past the whole frame
    assert FrameParser().feed(bytes(outer)) == [decode_frame(inner)]


def test_parser_skips_a_false_start_that_asks_for_more_bytes() -> None:
    good = encode_frame("000000001234", 0x91, b"\x00\x01\x00\x00")
    false_start = bytes.fromhex("68 00 00 00 00 00 00 68 11 FF")  # claims 255 data bytes
    assert FrameParser().feed(false_start + good) == [decode_frame(good)]


@FAST
@given(st.binary(max_size=300))
def test_fuzz_decode_raises_only_its_own_error(raw: bytes) -> None:
    try:
        decode_frame(raw)
    except Dlt645FrameError:
        pass


@FAST
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_fuzz_parser_never_raises(chunks: list[bytes]) -> None:
    parser = FrameParser()
    for chunk in chunks:
        parser.feed(chunk)


@FAST
@given(st.binary(min_size=1, max_size=8), st.integers(0, 4), st.booleans())
def test_fuzz_bcd_raises_only_its_own_error(raw: bytes, decimals: int, signed: bool) -> None:
    try:
        decode_bcd(raw, decimals, signed)
    except BcdError:
        pass


def test_data_identifiers() -> None:
    energy = data_id("00010000")
    assert (energy.length, energy.decimals, energy.signed, energy.unit) == (4, 2, False, "kWh")
    assert data_id(0x02010100).unit == "V" and data_id("02020100").signed
    assert data_id("active_power").decimals == 4
    with pytest.raises(KeyError, match="unknown DL/T 645 data identifier"):
        data_id("04000401")
