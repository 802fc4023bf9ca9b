"""Errors of the DL/T 645 codec (about bytes) and of the client (about a meter on a port)."""

from __future__ import annotations

import enum

from firmware_bridge.errors import BridgeError


class Dlt645FrameError(ValueError):
    """Bytes that are not a valid DL/T 645-2007 frame (bad start/end byte, length, checksum, address)."""


class BcdError(Dlt645FrameError):
    """A BCD field holds a nibble above 9, or a value does not fit its BCD field."""


class ErrorFlag(enum.IntFlag):
    """The error-information byte (ERR) of an abnormal response (control code with bit 6 set, e.g. 0xD1)."""

    OTHER = 0x01  # 其他错误
    NO_DATA = 0x02  # 无请求数据 (unknown or unsupported data identifier)
    UNAUTHORIZED = 0x04  # 密码错/未授权
    BAUD_UNCHANGEABLE = 0x08  # 通信速率不能更改
    YEAR_ZONES_EXCEEDED = 0x10  # 年时区数超
    DAY_PERIODS_EXCEEDED = 0x20  # 日时段数超
    TARIFFS_EXCEEDED = 0x40  # 费率数超
    RESERVED = 0x80


def describe_flags(flags: ErrorFlag) -> str:
    names = [f.name.lower() for f in ErrorFlag if f in flags and f.name]
    return ", ".join(names) if names else "no flag set"


class Dlt645Error(BridgeError):
    """A DL/T 645 meter could not be read. ``port`` names the port; the message names the meter and what failed."""


class Dlt645LinkError(Dlt645Error):
    """The serial port failed (could not be opened, read or written)."""


class Dlt645TimeoutError(Dlt645Error):
    """No valid answer from the meter within the timeout, after every retry."""


class Dlt645DataError(Dlt645Error):
    """The meter answered, but the value is malformed (short, or not BCD)."""


class Dlt645ErrorResponse(Dlt645Error):
    """The meter answered with an abnormal response; ``flags`` are the decoded error byte."""

    def __init__(self, port: str, message: str, flags: ErrorFlag) -> None:
        super().__init__(port, message)
        self.flags = flags
