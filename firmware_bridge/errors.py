"""The error every protocol client raises: :class:`BridgeError` names the port and says what went wrong.

Each protocol has its own subclasses (``MeterError``, ``Dlt645Error``, ``PileError``) so an app can catch
one device's failures, or all of them with ``except BridgeError``. Codec errors (a malformed frame, bad
BCD) are ``ValueError`` subclasses of each codec and carry no port: they are about bytes, not a device.
"""

from __future__ import annotations


class BridgeError(Exception):
    """A device on a serial port could not be reached or answered wrongly. ``port`` is the port's name."""

    def __init__(self, port: str, message: str) -> None:
        super().__init__(f"{port}: {message}")
        self.port = port
        self.detail = message


class LinkIOError(BridgeError):
    """The serial port itself failed: it could not be opened, read or written (adapter pulled, no such device)."""
