"""Why a Modbus meter read failed. Every message names the port, the device id and the registers."""

from __future__ import annotations

from firmware_bridge.errors import BridgeError

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    7: "negative acknowledge",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target did not respond",
}


class MeterError(BridgeError):
    """A Modbus meter could not be read."""


class MeterLinkError(MeterError):
    """The serial port itself failed (could not be opened, read or written)."""


class MeterTimeoutError(MeterError):
    """No valid answer within the timeout after every retry (an answer began but was cut short)."""


class MeterAbsentError(MeterTimeoutError):
    """Not one byte came back on any try: no device with that id, wrong baud/parity, or a broken cable."""


class MeterCrcError(MeterTimeoutError):
    """Answers came back but none passed the CRC check (noise, a wrong parity setting, two devices talking)."""


class MeterExceptionResponse(MeterError):
    """The meter answered with a Modbus exception; ``code`` is the exception code, ``code_name`` its meaning."""

    def __init__(self, port: str, message: str, code: int) -> None:
        super().__init__(port, message)
        self.code = code
        self.code_name = EXCEPTION_NAMES.get(code, f"exception {code}")
