"""Reading a Modbus RTU meter described by a register map: :class:`MeterClient`.

A meter that answers with a *transient* Modbus exception is still there and will answer again: 0x06 device busy
(it is updating its registers, or another master is talking to it), 0x05 acknowledge (it took the request and needs
longer), 0x0A/0x0B gateway path unavailable / target did not respond (an RS-485 gateway in between). Such answers
are retried with back-off (``busy_backoff_s`` doubling, up to ``busy_retries`` more times) and counted in
:class:`MeterStats` (``transient`` and ``exception_codes``); only when every retry is answered so does the read
raise. Whether the meter is *lost* is the caller's decision: no good reading for its configured time.
The other exceptions (illegal address, function or value, device failure) are the answer and raise at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.framer import FramerRTU

from firmware_bridge.errors import LinkIOError
from firmware_bridge.link import PortLike, SerialLink
from firmware_bridge.modbus.errors import (
    EXCEPTION_NAMES,
    MeterAbsentError,
    MeterCrcError,
    MeterError,
    MeterExceptionResponse,
    MeterLinkError,
    MeterTimeoutError,
)
from firmware_bridge.modbus.registermap import MeterMap, Quantity, ReadBlock, load_map, plan_reads
from firmware_bridge.modbus.transport import DATATYPES, LinkModbusClient

log = logging.getLogger(__name__)

#: Modbus exceptions that mean "not now" rather than "no": acknowledge, device busy, gateway path, gateway target
TRANSIENT_EXCEPTIONS = frozenset({5, 6, 10, 11})


@dataclass(frozen=True)
class Reading:
    """One quantity: ``value`` (raw × scale) in ``unit``; ``raw`` as decoded from the registers."""

    name: str
    value: float
    unit: str
    raw: float | int


@dataclass
class MeterStats:
    reads: int = 0  # Modbus requests that got an answer
    retries: int = 0
    crc_errors: int = 0  # tries whose answer failed the CRC
    timeouts: int = 0  # tries with no (complete) answer
    exceptions: int = 0  # Modbus exception responses (transient ones included)
    transient: int = 0  # transient exception responses (busy, acknowledge, gateway) that were retried
    exception_codes: dict[int, int] = field(default_factory=dict)  # exception code -> answers with it


def decode_quantity(name: str, q: Quantity, registers: list[int]) -> Reading:
    """Registers → :class:`Reading`, through pymodbus's converter, with the map's word order and scale."""
    raw = ModbusSerialClient.convert_from_registers(registers, DATATYPES[q.datatype], word_order=q.word_order)
    assert isinstance(raw, int | float)
    if q.datatype == "float32":
        raw = float(f"{raw:.7g}")  # float32 carries ~7 digits: 230.1, not 230.10000610351562
    value = float(raw) * q.scale
    return Reading(name, float(f"{value:.12g}"), q.unit, raw)  # no binary noise: 2301 × 0.1 is 230.1


class MeterClient:
    """A meter at ``device_id`` on ``port_or_url`` (SerialPort, pyserial object or URL; see firmware_bridge.link).

    ``meter_map`` is a :class:`MeterMap`, the name of a shipped map (``"ddsu666"``) or a YAML path.
    Line settings default to the map's. Each Modbus request waits ``timeout`` seconds and is sent up to
    ``retries + 1`` times (pymodbus does the retrying). A transient exception answer (:data:`TRANSIENT_EXCEPTIONS`)
    is asked again after ``busy_backoff_s``, then twice that..., up to ``busy_retries`` more times. Thread-safe.
    """

    def __init__(
        self,
        port_or_url: PortLike,
        meter_map: MeterMap | str | Path,
        device_id: int | None = None,
        timeout: float = 0.5,
        *,
        retries: int = 2,
        busy_retries: int = 3,
        busy_backoff_s: float = 0.05,
        baudrate: int | None = None,
        parity: str | None = None,
        name: str | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 s, not {timeout}")
        self.map = meter_map if isinstance(meter_map, MeterMap) else load_map(meter_map)
        self.device_id = device_id if device_id is not None else self.map.device_id
        if not 1 <= self.device_id <= 247:
            raise ValueError(f"Modbus device id must be 1-247, not {self.device_id}")
        if busy_retries < 0 or busy_backoff_s < 0:
            raise ValueError("busy_retries and busy_backoff_s must be >= 0")
        self.timeout = timeout
        self.retries = retries
        self.busy_retries = busy_retries
        self.busy_backoff_s = busy_backoff_s
        s = self.map.serial
        baud, par = baudrate or s.baudrate, parity or s.parity
        self._link = SerialLink(
            port_or_url, baudrate=baud, bytesize=s.bytesize, parity=par, stopbits=s.stopbits, name=name
        )
        self._client = LinkModbusClient(
            self._link,
            timeout=timeout,
            retries=retries,
            baudrate=baud,
            bytesize=s.bytesize,
            parity=par,
            stopbits=s.stopbits,
        )
        self._lock = threading.Lock()
        self.stats = MeterStats()

    @property
    def port(self) -> str:
        return self._link.label

    def _who(self, block: ReadBlock) -> str:
        regs = f"{block.count} register{'s' if block.count > 1 else ''} at 0x{block.address:04X}"
        return f"{self.map.name} id {self.device_id}, {regs} (function {block.function}: {', '.join(block.quantities)})"

    def read(self, *names: str) -> dict[str, Reading]:
        """The quantities ``names`` (all of the map's when none are given), in as few requests as the map allows."""
        wanted = list(names) or list(self.map.quantities)
        blocks = plan_reads(self.map, wanted)
        out: dict[str, Reading] = {}
        with self._lock:
            for block in blocks:
                try:
                    registers = self._read_block(block)
                except MeterExceptionResponse as e:
                    if len(block.quantities) == 1 or e.code != 2:
                        raise
                    # a batched read hit an address the meter lacks: read one by one to name the quantity
                    for name in block.quantities:
                        out.update(self._read_single(name))
                    continue
                for name in block.quantities:
                    q = self.map.quantities[name]
                    offset = q.address - block.address
                    out[name] = decode_quantity(name, q, registers[offset : offset + q.registers])
        return {n: out[n] for n in wanted}

    def _read_single(self, name: str) -> dict[str, Reading]:
        q = self.map.quantities[name]
        block = ReadBlock(q.function, q.address, q.registers, (name,))
        return {name: decode_quantity(name, q, self._read_block(block))}

    def read_value(self, name: str) -> float:
        """One quantity's value in its unit."""
        return self.read(name)[name].value

    def _read_block(self, block: ReadBlock) -> list[int]:
        for attempt in range(self.busy_retries + 1):
            try:
                return self._request_block(block)
            except MeterExceptionResponse as e:
                if e.code not in TRANSIENT_EXCEPTIONS or attempt == self.busy_retries:
                    raise
                self.stats.transient += 1
                delay = self.busy_backoff_s * 2**attempt
                log.debug("%s: %s; asking again in %.2f s", self.port, e.code_name, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _request_block(self, block: ReadBlock) -> list[int]:
        client = self._client
        client.attempts = []
        try:
            if block.function == 3:
                rr = client.read_holding_registers(block.address, count=block.count, device_id=self.device_id)
            else:
                rr = client.read_input_registers(block.address, count=block.count, device_id=self.device_id)
        except LinkIOError as e:
            raise MeterLinkError(self.port, f"{self._who(block)}: {e.detail}") from e
        except ModbusIOException as e:
            raise self._no_answer(block) from e
        except ModbusException as e:
            raise MeterError(self.port, f"{self._who(block)}: {e}") from e
        self._tally(block, client.attempts[:-1])
        self.stats.reads += 1
        self.stats.retries += max(0, len(client.attempts) - 1)
        if rr.isError():
            code = int(getattr(rr, "exception_code", 0))
            self.stats.exceptions += 1
            self.stats.exception_codes[code] = self.stats.exception_codes.get(code, 0) + 1
            name = EXCEPTION_NAMES.get(code, f"exception {code}")
            raise MeterExceptionResponse(self.port, f"{self._who(block)}: meter answered {name} (code {code})", code)
        registers = list(rr.registers)
        if len(registers) < block.count:
            raise MeterError(self.port, f"{self._who(block)}: answer has {len(registers)} registers")
        return registers

    def _classify(self, block: ReadBlock, data: bytes) -> str:
        """'none', 'crc' (a complete answer with a bad CRC, or bytes that form no answer) or 'short'."""
        if not data:
            return "none"
        for off in range(len(data) - 1):
            if data[off] != self.device_id or data[off + 1] & 0x7F != block.function:
                continue
            size = 5 if data[off + 1] & 0x80 else (data[off + 2] + 5 if len(data) > off + 2 else 0)
            if not size or len(data) - off < size:
                return "short"
            frame = data[off : off + size]
            if not FramerRTU.check_CRC(frame[:-2], int.from_bytes(frame[-2:], "big")):
                return "crc"
        return "crc"

    def _tally(self, block: ReadBlock, attempts: list[bytearray]) -> list[str]:
        kinds = [self._classify(block, bytes(a)) for a in attempts]
        for kind in kinds:
            if kind == "crc":
                self.stats.crc_errors += 1
            else:
                self.stats.timeouts += 1
        return kinds

    def _no_answer(self, block: ReadBlock) -> MeterTimeoutError:
        attempts = self._client.attempts
        kinds = self._tally(block, attempts)
        self.stats.retries += max(0, len(attempts) - 1)
        tries = f"{len(attempts)} tries of {self.timeout:g} s"
        who = self._who(block)
        if all(k == "none" for k in kinds):
            return MeterAbsentError(
                self.port, f"{who}: no answer at all after {tries} (device absent, wrong id/baud/parity, or cable)"
            )
        if "crc" in kinds:
            return MeterCrcError(self.port, f"{who}: {kinds.count('crc')} of {tries} came back with a CRC error")
        return MeterTimeoutError(self.port, f"{who}: answer cut short or late on every one of {tries}")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> MeterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<MeterClient {self.map.name} id {self.device_id} on {self.port}>"
