"""Reading a DL/T 645-2007 meter on a serial port (RS-485, usually 2400 baud 8E1)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

from firmware_bridge.dlt645.bcd import decode_bcd
from firmware_bridge.dlt645.errors import (
    Dlt645DataError,
    Dlt645ErrorResponse,
    Dlt645FrameError,
    Dlt645LinkError,
    Dlt645TimeoutError,
    ErrorFlag,
    describe_flags,
)
from firmware_bridge.dlt645.frame import (
    ABNORMAL,
    DIR_FROM_METER,
    READ_ADDRESS,
    READ_DATA,
    WILDCARD_ADDRESS,
    Frame,
    FrameParser,
    encode_frame,
    normalize_address,
)
from firmware_bridge.dlt645.identifiers import (
    ACTIVE_POWER,
    CURRENT_A,
    FORWARD_ACTIVE_ENERGY,
    VOLTAGE_A,
    DataId,
    data_id,
)
from firmware_bridge.errors import LinkIOError
from firmware_bridge.link import PortLike, SerialLink

log = logging.getLogger(__name__)


@dataclass
class Dlt645Stats:
    requests: int = 0
    answers: int = 0
    retries: int = 0
    timeouts: int = 0
    checksum_errors: int = 0
    garbage_bytes: int = 0
    error_responses: int = 0


class Dlt645Client:
    """One meter at ``address`` (12 digits) on ``port`` (SerialPort, pyserial object or URL; see firmware_bridge.link).

    Each read sends the request, waits up to ``timeout`` seconds for the answer and sends it again up to
    ``retries`` times when nothing valid comes back (a checksum error or garbage counts in :attr:`stats`).
    Thread-safe: one exchange at a time.
    """

    def __init__(
        self,
        port: PortLike,
        address: str | int,
        *,
        timeout: float = 1.0,
        retries: int = 2,
        preamble: int = 4,
        baudrate: int = 2400,
        parity: str = "E",
        name: str | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 s, not {timeout}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, not {retries}")
        if not 0 <= preamble <= 4:
            raise ValueError(f"wake-up preamble is 0-4 FE bytes, not {preamble}")
        self.address = normalize_address(address)
        self.timeout = timeout
        self.retries = retries
        self.preamble = preamble
        self._link = SerialLink(port, baudrate=baudrate, parity=parity, name=name)
        self._lock = threading.Lock()
        self.stats = Dlt645Stats()

    @property
    def port(self) -> str:
        return self._link.label

    def _who(self) -> str:
        return f"meter {self.address}"

    def _exchange(self, control: int, data: bytes, what: str, broadcast: bool = False) -> Frame:
        """Send, wait, retry. ``broadcast``: to the wildcard address, and take an answer from any address."""
        request = encode_frame(WILDCARD_ADDRESS if broadcast else self.address, control, data, preamble=self.preamble)
        expected = control | DIR_FROM_METER
        with self._lock:
            self.stats.requests += 1
            parser = FrameParser()
            last_problem = "no byte came back"
            for attempt in range(self.retries + 1):
                if attempt:
                    self.stats.retries += 1
                try:
                    self._link.reset_input()
                    self._link.write(request)
                    answer = self._await(parser, expected, data, broadcast)
                except LinkIOError as e:
                    raise Dlt645LinkError(self.port, f"{self._who()}: {what}: {e.detail}") from e
                finally:
                    self.stats.checksum_errors += parser.checksum_errors
                    self.stats.garbage_bytes += parser.garbage_bytes
                    if parser.checksum_errors:
                        last_problem = f"checksum error ({parser.last_error})"
                    elif parser.garbage_bytes:
                        last_problem = f"{parser.garbage_bytes} garbage bytes, no valid frame"
                    parser.checksum_errors = parser.garbage_bytes = 0
                    parser.reset()
                if answer is not None:
                    self.stats.answers += 1
                    if answer.abnormal:
                        return self._raise_abnormal(answer, what)
                    return answer
                self.stats.timeouts += 1
            tries = self.retries + 1
            raise Dlt645TimeoutError(
                self.port,
                f"{self._who()}: no valid answer to {what} after {tries} tries of {self.timeout:g} s ({last_problem})",
            )

    def _await(self, parser: FrameParser, expected: int, data: bytes, any_address: bool) -> Frame | None:
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            chunk = self._link.read_some(remaining)
            for frame in parser.iter_feed(chunk):
                if not frame.from_meter:
                    continue  # our own request echoed by a half-duplex adapter
                if not any_address and frame.address != self.address:
                    continue  # another meter on the bus
                if frame.control & ~ABNORMAL != expected:
                    continue
                if not frame.abnormal and expected & 0x1F == READ_DATA and frame.data[:4] != data[:4]:
                    continue  # an answer to some other data identifier
                return frame

    def _raise_abnormal(self, answer: Frame, what: str) -> Frame:
        self.stats.error_responses += 1
        flags = ErrorFlag(answer.data[0]) if answer.data else ErrorFlag(0)
        raise Dlt645ErrorResponse(
            self.port,
            f"{self._who()} refused {what}: error 0x{int(flags):02X} ({describe_flags(flags)})",
            flags,
        )

    def read(self, di: int | str | DataId) -> Decimal:
        """The value of data identifier ``di`` in its unit (see :mod:`firmware_bridge.dlt645.identifiers`)."""
        spec = data_id(di)
        what = f"read {spec.code} ({spec.name})"
        answer = self._exchange(READ_DATA, spec.to_bytes(), what)
        value = answer.data[4:]
        if len(value) < spec.length:
            raise Dlt645DataError(
                self.port, f"{self._who()}: answer to {what} carries {len(value)} value bytes, expected {spec.length}"
            )
        try:
            return decode_bcd(value[: spec.length], spec.decimals, spec.signed)
        except Dlt645FrameError as e:
            raise Dlt645DataError(self.port, f"{self._who()}: answer to {what} is malformed: {e}") from e

    def read_energy(self) -> float:
        """Forward active total energy (00010000), kWh."""
        return float(self.read(FORWARD_ACTIVE_ENERGY))

    def read_voltage(self) -> float:
        """Phase A voltage (02010100), V."""
        return float(self.read(VOLTAGE_A))

    def read_current(self) -> float:
        """Phase A current (02020100), A; negative when the meter sees reverse flow."""
        return float(self.read(CURRENT_A))

    def read_power(self) -> float:
        """Total active power (02030000), converted from the meter's kW to W."""
        return float(self.read(ACTIVE_POWER) * 1000)

    def read_address(self) -> str:
        """Ask whoever is on the line for its address (0x13 to AAAAAAAAAAAA). Only one meter may be connected."""
        return self._exchange(READ_ADDRESS, b"", "read address", broadcast=True).address

    def close(self) -> None:
        self._link.close()

    def __enter__(self) -> Dlt645Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Dlt645Client meter {self.address} on {self.port}>"
