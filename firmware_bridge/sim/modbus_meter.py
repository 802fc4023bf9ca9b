"""A simulated Modbus RTU meter: pymodbus's own ``ModbusSerialServer`` on a pty, built from a register map.

Layout::

    agent ── device_path (pty A) ══ wire thread ══ pty B ── pymodbus ModbusSerialServer (own asyncio loop)

pymodbus's server opens a device path, so it gets a second pty; the *wire* between the two copies bytes
and is where line faults are injected: silence, dropped requests, garbage, CRC errors, and the RS-485
rule that a device ignores frames for other ids (pymodbus's server would answer those with an exception).
Register values are refreshed from a source (see sim.meters) by the server's per-request ``action`` hook,
so every read sees the current state, e.g. of a simulated pile. Scale and word order follow the map.
Exception answers: :meth:`fail_next` (the next few requests) and :meth:`busy_every` (a busy meter).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import select
import threading
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path

from pymodbus.client import ModbusSerialClient
from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_bridge.modbus.registermap import MeterMap, Quantity, load_map
from firmware_bridge.modbus.transport import DATATYPES
from firmware_bridge.sim.faults import LineFaults
from firmware_bridge.sim.meters import MeterState, Source
from firmware_bridge.sim.pty import PtyPair

log = logging.getLogger(__name__)


def encode_quantity(q: Quantity, value: float) -> list[int]:
    """Registers that a meter would hold for ``value`` (in the map's unit): raw = value / scale."""
    raw: float | int = value / q.scale
    if not q.datatype.startswith("float"):
        bits = int(q.datatype.removeprefix("u").removeprefix("int"))
        lo, hi = (0, 2**bits - 1) if q.datatype.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        raw = max(lo, min(hi, round(raw)))
    return ModbusSerialClient.convert_to_registers(raw, DATATYPES[q.datatype], word_order=q.word_order)


class ModbusMeterSim(LineFaults):
    """A meter from ``meter_map`` at ``device_id``; values from ``source``. Use ``with ModbusMeterSim(...) as sim``."""

    def __init__(
        self,
        meter_map: MeterMap | str | Path = "ddsu666",
        source: Source | None = None,
        *,
        device_id: int | None = None,
        seed: int = 0,
        name: str = "modbus-meter-sim",
    ) -> None:
        self.map = meter_map if isinstance(meter_map, MeterMap) else load_map(meter_map)
        self.device_id = device_id if device_id is not None else self.map.device_id
        self.state = MeterState(source)
        self.name = name
        self.pair = PtyPair()  # the agent's side
        self._inner = PtyPair()  # the server's side
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._init_faults()
        self._exceptions: list[int] = []
        self._busy_every = 0  # answer every n-th request with _busy_code (0: never)
        self._busy_code = int(ExcCodes.DEVICE_BUSY)
        self._served = 0
        self._halt = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusSerialServer | None = None
        self._threads: list[threading.Thread] = []
        self.requests_seen = 0
        self.requests_ignored = 0  # for other device ids, or dropped
        self.responses = 0
        # register layout: (function, address) -> owning quantity; gaps within max_gap are zero-filled
        self._owner: dict[tuple[int, int], str | None] = {}
        for qname, q in self.map.quantities.items():
            for a in range(q.address, q.end):
                self._owner[(q.function, a)] = qname
        for fc in (3, 4):
            addrs = sorted(a for f, a in self._owner if f == fc)
            for a, b in pairwise(addrs):
                if 1 < b - a <= self.map.max_gap + 1:
                    for gap in range(a + 1, b):
                        self._owner[(fc, gap)] = None

    @property
    def device_path(self) -> str:
        return self.pair.device_path

    # -------------------------------------------------------- the server ----

    def _simdata(self) -> list[SimData]:
        # pymodbus keeps one shared register space; which function may read what is checked in _action
        addresses = sorted({a for _, a in self._owner})
        blocks: list[SimData] = []
        run: list[int] = []
        for a in addresses:
            if run and a != run[-1] + 1:
                blocks.append(SimData(run[0], values=[0] * len(run), datatype=DataType.REGISTERS))
                run = []
            run.append(a)
        if run:
            blocks.append(SimData(run[0], values=[0] * len(run), datatype=DataType.REGISTERS))
        return blocks

    async def _action(self, function: int, start: int, address: int, count: int, registers: list[int],
                      values: list[int] | list[bool] | None) -> ExcCodes | None:  # fmt: skip
        with self._lock:
            self._served += 1
            if self._exceptions:
                return ExcCodes(self._exceptions.pop(0))
            if self._busy_every and self._served % self._busy_every == 0:
                return ExcCodes(self._busy_code)
        if values is not None:
            return ExcCodes.ILLEGAL_FUNCTION  # a meter's measurements are read-only
        if any((function, a) not in self._owner for a in range(address, address + count)):
            return ExcCodes.ILLEGAL_ADDRESS
        try:
            for qname in {self._owner[(function, a)] for a in range(address, address + count)} - {None}:
                assert qname is not None
                q = self.map.quantities[qname]
                regs = encode_quantity(q, self.state.value(qname))
                registers[q.address - start : q.end - start] = regs
        except Exception:  # a bad source value must show, and the meter answers "device failure"
            log.exception("%s: could not encode the registers", self.name)
            return ExcCodes.DEVICE_FAILURE
        return None

    def _run_server(self, started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def start() -> None:
            device = SimDevice(id=self.device_id, simdata=self._simdata(), action=self._action)
            s = self.map.serial
            self._server = ModbusSerialServer(
                device, framer=FramerType.RTU, port=self._inner.device_path, baudrate=s.baudrate,
                bytesize=s.bytesize, parity=s.parity, stopbits=s.stopbits,
            )  # fmt: skip
            await self._server.serve_forever(background=True)

        try:
            loop.run_until_complete(start())
        finally:
            started.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    # ---------------------------------------------------------- the wire ----

    def _run_wire(self) -> None:
        agent, server = self.pair.master_fd, self._inner.master_fd
        while not self._halt.is_set():
            try:
                ready, _, _ = select.select([agent, server], [], [], 0.05)
            except (OSError, ValueError):
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                except OSError:
                    continue  # EIO: nobody has that side open right now
                try:
                    if fd == agent:
                        self._to_server(data)
                    else:
                        self._to_agent(data)
                except OSError as e:
                    if self._halt.is_set():
                        return
                    log.warning("%s: wire: %s", self.name, e)

    def _to_server(self, data: bytes) -> None:
        self.requests_seen += 1
        with self._lock:
            drop = self._silent or bool(self._drop_next) or data[0] != self.device_id
            if self._drop_next and not self._silent and data[0] == self.device_id:
                self._drop_next -= 1
        if drop:
            self.requests_ignored += 1
            return
        self._inner.write(data)

    def _to_agent(self, data: bytes) -> None:
        with self._lock:
            if self._silent:
                return
            if self._corrupt_next:
                self._corrupt_next -= 1
                data = data[:-1] + bytes([data[-1] ^ 0x5A])
            if self._garbage_next:
                data = bytes(self._rng.randrange(256) for _ in range(self._garbage_next)) + data
                self._garbage_next = 0
        self.responses += 1
        self.pair.write(data)

    # ---------------------------------------------------------- lifecycle ----

    def start(self) -> ModbusMeterSim:
        started = threading.Event()
        server = threading.Thread(target=self._run_server, args=(started,), name=f"{self.name}-server", daemon=True)
        wire = threading.Thread(target=self._run_wire, name=f"{self.name}-wire", daemon=True)
        self._threads = [server, wire]
        server.start()
        if not started.wait(5.0) or self._server is None:
            raise RuntimeError(f"{self.name}: pymodbus server did not start on {self._inner.device_path}")
        wire.start()
        return self

    def stop(self) -> None:
        self._halt.set()
        loop, server = self._loop, self._server
        if loop is not None and loop.is_running():
            if server is not None:
                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(2.0)
            loop.call_soon_threadsafe(loop.stop)
        for t in self._threads:
            t.join(2.0)
        self.pair.close()
        self._inner.close()

    def __enter__(self) -> ModbusMeterSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------- scenario API ----

    def set(self, **values: float) -> None:
        """Pin quantities (by map name or base name) to values in the map's units: ``set(voltage=198.0)``."""
        self.state.set(**values)

    def reset_counter(self) -> None:
        self.state.reset_counter()

    def step_back(self, kwh: float) -> None:
        self.state.step_back(kwh)

    def fail_next(self, code: int = ExcCodes.DEVICE_BUSY, count: int = 1) -> None:
        """Answer the next ``count`` requests with Modbus exception ``code``."""
        with self._lock:
            self._exceptions.extend([int(code)] * count)

    def clear_exceptions(self) -> None:
        """Answer normally again: no queued exceptions (fail_next), no busy_every."""
        with self._lock:
            self._exceptions.clear()
            self._busy_every = 0

    def busy_every(self, n: int, code: int = ExcCodes.DEVICE_BUSY) -> None:
        """From now on answer every ``n``-th request with exception ``code`` (a busy meter that still answers
        every request); ``n`` = 0 stops it."""
        if n < 0 or n == 1:
            raise ValueError("busy_every: n must be 0 (off) or at least 2 (a meter busy for every request is lost)")
        with self._lock:
            self._busy_every, self._busy_code, self._served = n, int(code), 0

    def quantities(self) -> Iterable[str]:
        return self.map.quantities.keys()
