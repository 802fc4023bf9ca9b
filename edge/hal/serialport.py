"""Serial ports through pyserial (``serial_for_url``): device paths, ptys, ``loop://``, ``rfc2217://``.

Every failure raises :class:`SerialPortError` (an ``OSError``) naming the port, closes the port, and the
next call opens it again, so a USB adapter that was pulled and plugged back recovers by itself.
One thread may read while another writes (pyserial allows it); request/response exchanges that must
not interleave are the protocol's to lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import serial

from edge.hal.config import SerialConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


class SerialPortError(OSError):
    """A serial port could not be opened, read or written. ``port`` is the port's name."""

    def __init__(self, port: str, message: str) -> None:
        super().__init__(f"serial '{port}': {message}")
        self.port = port


class SerialPort:
    def __init__(self, name: str, cfg: SerialConfig) -> None:
        self.name = name
        self.cfg = cfg
        self._ser: serial.SerialBase | None = None
        self._lock = threading.Lock()
        self.bytes_in = 0
        self.bytes_out = 0
        self.errors = 0
        self.opens = 0
        self.last_error: str | None = None

    def open(self) -> None:
        """Open the port (no-op when open). Raises SerialPortError naming the port and its URL."""
        self._ensure_open()

    def _ensure_open(self) -> serial.SerialBase:
        with self._lock:
            if self._ser is not None and self._ser.is_open:
                return self._ser
            c = self.cfg
            try:
                ser = serial.serial_for_url(
                    c.url,
                    do_not_open=True,
                    baudrate=c.baudrate,
                    bytesize=c.bytesize,
                    parity=c.parity,
                    stopbits=c.stopbits,
                    timeout=c.timeout_s,
                    write_timeout=max(1.0, c.timeout_s),
                )
                ser.open()
            except (serial.SerialException, OSError, ValueError) as e:
                raise self._error(f"cannot open {c.url}: {e}") from e
            self._ser = ser
            self.opens += 1
            log.info("serial '%s' opened %s at %d baud", self.name, c.url, c.baudrate)
            return ser

    def _error(self, message: str) -> SerialPortError:
        self.errors += 1
        err = SerialPortError(self.name, message)
        self.last_error = str(err)
        log.warning("%s", err)
        return err

    def _use(self, what: str, op: Callable[[serial.SerialBase], T]) -> T:
        ser = self._ensure_open()
        try:
            return op(ser)
        except (serial.SerialException, OSError, TypeError) as e:
            # TypeError: pyserial using the file descriptor (now None) of a port another thread just closed.
            with self._lock:
                if self._ser is ser:
                    self._ser = None
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass
            raise self._error(f"{what} failed on {self.cfg.url}: {e}") from e

    def write(self, data: bytes) -> int:
        """Write all of ``data``; returns the byte count."""
        n = self._use("write", lambda s: s.write(data)) or 0
        self.bytes_out += n
        return n

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer (maybe none) when ``timeout_s`` passes first."""
        data = self._use("read", lambda s: s.read(n))
        self.bytes_in += len(data)
        return bytes(data)

    def read_until(self, terminator: bytes, size: int | None = None) -> bytes:
        """Bytes up to and including ``terminator``, or what came before ``size`` bytes / the timeout."""
        data = self._use("read", lambda s: s.read_until(terminator, size))
        self.bytes_in += len(data)
        return bytes(data)

    def reset_input(self) -> None:
        """Drop whatever is waiting in the input buffer (stale bytes before a new request)."""
        self._use("input reset", lambda s: s.reset_input_buffer())

    def close(self) -> None:
        with self._lock:
            ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError) as e:
                log.debug("serial '%s': close: %s", self.name, e)

    @property
    def is_open(self) -> bool:
        ser = self._ser
        return ser is not None and bool(ser.is_open)

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.cfg.url,
            "open": self.is_open,
            "baudrate": self.cfg.baudrate,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "errors": self.errors,
            "opens": self.opens,
            "last_error": self.last_error,
        }

    def __enter__(self) -> SerialPort:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SerialPort {self.name!r} {self.cfg.url}>"
