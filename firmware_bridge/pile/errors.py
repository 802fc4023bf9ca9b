"""Errors of the pile MCU link: the codec's (about bytes) and the client's (about the MCU on a port)."""

from __future__ import annotations

from firmware_bridge.errors import BridgeError


class PileFrameError(ValueError):
    """Bytes that are not a valid pile frame, or a payload that does not fit its message type."""


class PileError(BridgeError):
    """The pile MCU could not be used. ``port`` names the serial port."""


class PileLinkError(PileError):
    """The MCU did not answer in time after every retry (MCU lost, cable cut), or the port failed."""


class PileCommandError(PileError):
    """The MCU answered with an ERROR frame: it understood the frame but refused the request."""

    def __init__(self, port: str, message: str, code: int) -> None:
        super().__init__(port, message)
        self.code = code
