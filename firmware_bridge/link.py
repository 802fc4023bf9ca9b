"""One byte pipe for every protocol client, over whatever the caller has.

A client accepts ``port`` as any of:

* an ``edge.hal.serialport.SerialPort`` (how the agent reaches hardware on a Pi: its name, URL and line
  settings come from the device's YAML, and it reopens a pulled USB adapter by itself);
* an open pyserial(-compatible) object with ``read(n)``/``write(b)`` and a read ``timeout`` (not None);
* a device path or pyserial URL string (``/dev/ttyUSB0``, ``/dev/pts/7``, ``rfc2217://host:port``), which
  this module opens itself with the line settings given.

Only duck typing is used, so this package does not import the HAL. Every failure of the port raises
:class:`~firmware_bridge.errors.LinkIOError` naming the port; protocol clients turn it into their own
error family.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol, runtime_checkable

import serial

from firmware_bridge.errors import LinkIOError

#: read timeout of the ports this module opens itself: the granularity of every wait below
_OWN_TIMEOUT_S = 0.02


@runtime_checkable
class SerialLike(Protocol):
    """What a client needs from a port object (pyserial ``Serial`` and the HAL's ``SerialPort`` both fit)."""

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...


PortLike = SerialLike | str


class SerialLink:
    """Reads and writes bytes on ``port``; see the module docstring for what ``port`` may be."""

    def __init__(
        self,
        port: PortLike,
        *,
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        name: str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._own = isinstance(port, str)
        self._ser: Any
        if isinstance(port, str):
            if not port:
                raise ValueError("serial port: empty device path / URL")
            self.url = port
            self.name = name or port
            self._settings: dict[str, Any] = {
                "baudrate": baudrate,
                "bytesize": bytesize,
                "parity": parity,
                "stopbits": stopbits,
                "timeout": _OWN_TIMEOUT_S,
                "write_timeout": 2.0,
            }
            self._ser = None
        elif isinstance(port, SerialLike):
            if hasattr(port, "timeout") and getattr(port, "timeout", 0) is None:
                raise ValueError(f"serial port {port!r}: needs a read timeout (timeout=None blocks forever)")
            cfg = getattr(port, "cfg", None)
            self.url = str(getattr(cfg, "url", None) or getattr(port, "port", None) or port)
            self.name = name or str(getattr(port, "name", None) or self.url)
            self._ser = port
        else:
            raise TypeError(f"port must be a device path/URL, a pyserial object or a SerialPort, not {type(port)!r}")

    @property
    def label(self) -> str:
        """How errors name this port: ``'name'`` or ``'name' (url)`` when they differ."""
        return f"'{self.name}'" if self.name == self.url else f"'{self.name}' ({self.url})"

    def _error(self, what: str, e: BaseException) -> LinkIOError:
        return LinkIOError(self.label, f"{what} failed: {e}")

    def open(self) -> None:
        """Open the port now (no-op when open): a port that is opened later drops what was already waiting."""
        ser = self._port()
        if self._own or getattr(ser, "is_open", True) or not callable(getattr(ser, "open", None)):
            return
        try:
            ser.open()  # a HAL SerialPort not opened yet
        except (serial.SerialException, OSError, ValueError) as e:
            raise self._error("open", e) from e

    def _port(self) -> Any:
        if not self._own:
            return self._ser
        with self._lock:
            if self._ser is None:
                try:
                    self._ser = serial.serial_for_url(self.url, **self._settings)
                except (serial.SerialException, OSError, ValueError) as e:
                    raise self._error("open", e) from e
            return self._ser

    def _drop(self) -> None:
        """Close an owned port after an I/O error so the next call reopens it (a re-plugged adapter)."""
        if not self._own:
            return
        with self._lock:
            ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def write(self, data: bytes) -> None:
        ser = self._port()
        try:
            ser.write(data)
            flush = getattr(ser, "flush", None)
            if self._own and flush is not None:
                flush()
        except (serial.SerialException, OSError, TypeError) as e:
            self._drop()
            raise self._error("write", e) from e

    def read_some(self, timeout: float) -> bytes:
        """Wait up to ``timeout`` seconds for at least one byte, then return it and whatever else is waiting."""
        ser = self._port()
        deadline = time.monotonic() + timeout
        try:
            while True:
                first = ser.read(1)
                if first:
                    waiting = getattr(ser, "in_waiting", None)
                    if isinstance(waiting, int) and waiting > 0:
                        return bytes(first) + bytes(ser.read(waiting))
                    return bytes(first)
                if time.monotonic() >= deadline:
                    return b""
                if getattr(ser, "timeout", None) == 0:
                    time.sleep(0.002)  # a non-blocking port: poll, do not spin
        except (serial.SerialException, OSError, TypeError) as e:
            self._drop()
            raise self._error("read", e) from e

    def reset_input(self) -> None:
        """Drop stale bytes waiting in the input buffer (before a new request)."""
        ser = self._port()
        reset = getattr(ser, "reset_input_buffer", None) or getattr(ser, "reset_input", None)
        if reset is None:
            return
        try:
            reset()
        except (serial.SerialException, OSError, TypeError) as e:
            self._drop()
            raise self._error("input reset", e) from e

    def close(self) -> None:
        """Close the port if this link opened it; a caller's port object is left as it is."""
        self._drop()

    def __repr__(self) -> str:
        return f"<SerialLink {self.label}>"
