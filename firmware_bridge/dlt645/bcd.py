"""BCD fields of DL/T 645-2007: least significant byte first, two digits a byte, optional sign in the MSB.

A field of ``n`` bytes holds ``2n`` digits; ``decimals`` of them are after the point (``XXX.XXX`` is 3 bytes,
3 decimals). For signed quantities bit 7 of the most significant byte is the sign (1 = negative) and the
magnitude keeps ``2n - 1`` digits plus 3 bits, so its top digit is at most 7.
"""

from __future__ import annotations

from decimal import Decimal

from firmware_bridge.dlt645.errors import BcdError


def decode_bcd(data: bytes, decimals: int = 0, signed: bool = False) -> Decimal:
    """The value of a little-endian BCD field. Raises :class:`BcdError` on a nibble above 9."""
    if not data:
        raise BcdError("empty BCD field")
    raw = bytearray(data)
    negative = False
    if signed:
        negative = bool(raw[-1] & 0x80)
        raw[-1] &= 0x7F
    digits = []
    for i, b in enumerate(reversed(raw)):
        hi, lo = b >> 4, b & 0x0F
        if hi > 9 or lo > 9:
            pos = len(raw) - 1 - i
            raise BcdError(f"invalid BCD byte 0x{data[pos]:02X} at offset {pos} of {data.hex(' ').upper()}")
        digits.append(hi)
        digits.append(lo)
    value = Decimal(int("".join(map(str, digits)))).scaleb(-decimals)
    return -value if negative and value else value


def encode_bcd(value: Decimal | float | int, length: int, decimals: int = 0, signed: bool = False) -> bytes:
    """``value`` as a ``length``-byte little-endian BCD field. Raises :class:`BcdError` when it does not fit."""
    if length < 1:
        raise BcdError(f"BCD length must be >= 1, not {length}")
    d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    negative = d < 0
    if negative and not signed:
        raise BcdError(f"{value} is negative but the field is unsigned")
    scaled = int(abs(d).scaleb(decimals).to_integral_value())
    limit = 8 * 10 ** (2 * length - 1) if signed else 10 ** (2 * length)
    if scaled >= limit:
        raise BcdError(f"{value} does not fit {length} BCD bytes with {decimals} decimals (signed={signed})")
    text = f"{scaled:0{2 * length}d}"
    out = bytearray(int(text[i : i + 2], 16) for i in range(0, 2 * length, 2))
    out.reverse()
    if negative and scaled:
        out[-1] |= 0x80
    return bytes(out)
