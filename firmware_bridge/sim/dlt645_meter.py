"""A simulated DL/T 645-2007 meter on a pty, answering reads of the data identifiers in dlt645.identifiers.

Scenario API: ``respond_error(ErrorFlag.NO_DATA)``, ``reset_counter()``, ``step_back(kwh)``,
``go_silent()``/``resume()``, ``drop_next(n)`` (time-outs), ``corrupt_next(n)`` (checksum errors),
``garbage_before_next(n)`` and ``inject_garbage(n)``. Values come from a source (see sim.meters), e.g.
``Dlt645MeterSim(source=pile.meter_values)`` integrates a simulated pile's power.
"""

from __future__ import annotations

import random
import threading
from decimal import Decimal

from firmware_bridge.dlt645.bcd import encode_bcd
from firmware_bridge.dlt645.errors import BcdError, ErrorFlag
from firmware_bridge.dlt645.frame import (
    ABNORMAL,
    DIR_FROM_METER,
    READ_ADDRESS,
    READ_DATA,
    WILDCARD_ADDRESS,
    Frame,
    FrameParser,
    encode_address,
    normalize_address,
)
from firmware_bridge.dlt645.identifiers import DATA_IDS, DataId
from firmware_bridge.sim.faults import LineFaults
from firmware_bridge.sim.meters import MeterState, Source
from firmware_bridge.sim.pty import PtyPair, PtyResponder

# which source value each data identifier reports, and the factor to the DI's unit
_DI_VALUES: dict[str, tuple[str, float]] = {
    "forward_active_energy": ("import_energy", 1.0),
    "reverse_active_energy": ("export_energy", 1.0),
    "voltage_a": ("voltage_a", 1.0),
    "voltage_b": ("voltage_b", 1.0),
    "voltage_c": ("voltage_c", 1.0),
    "current_a": ("current_a", 1.0),
    "current_b": ("current_b", 1.0),
    "current_c": ("current_c", 1.0),
    "active_power": ("active_power", 0.001),  # W -> kW
    "power_factor": ("power_factor", 1.0),
    "frequency": ("frequency", 1.0),
}


class Dlt645MeterSim(LineFaults, PtyResponder):
    """A single-phase meter at ``address``; readings from ``source`` (see sim.meters)."""

    def __init__(
        self,
        address: str | int = "000000001234",
        source: Source | None = None,
        *,
        pair: PtyPair | None = None,
        preamble: int = 4,
        seed: int = 0,
        name: str = "dlt645-meter-sim",
    ) -> None:
        self._own_pair = pair is None
        super().__init__(pair or PtyPair(), name=name, poll_s=0.02)
        self.address = normalize_address(address)
        self.state = MeterState(source)
        self.preamble = preamble
        self._lock = threading.Lock()
        self._parser = FrameParser()
        self._rng = random.Random(seed)
        self._init_faults()
        self._errors: list[ErrorFlag] = []
        self.requests = 0
        self.answers = 0

    # -------------------------------------------------------------- wire ----

    def handle(self, data: bytes) -> bytes | None:
        out = bytearray()
        for frame in self._parser.feed(data):
            if frame.from_meter:
                continue
            with self._lock:
                if self._silent:
                    continue
                if self._drop_next:
                    self._drop_next -= 1
                    continue
            answer = self._answer(frame)
            if answer is not None:
                out += self._outgoing(answer)
        return bytes(out) or None

    def _outgoing(self, frame: Frame) -> bytes:
        raw = frame.encode(self.preamble)
        with self._lock:
            if self._corrupt_next:
                self._corrupt_next -= 1
                raw = raw[:-2] + bytes([(raw[-2] + 1) & 0xFF]) + raw[-1:]
            if self._garbage_next:
                junk = bytes(self._rng.randrange(256) for _ in range(self._garbage_next))
                self._garbage_next = 0
                raw = junk + raw
        self.answers += 1
        return raw

    def _answer(self, req: Frame) -> Frame | None:
        if req.function == READ_ADDRESS:
            if req.address != WILDCARD_ADDRESS:
                return None
            self.requests += 1
            return Frame(self.address, READ_ADDRESS | DIR_FROM_METER, encode_address(self.address))
        if req.address != self.address:
            return None  # addressed to another meter on the bus
        self.requests += 1
        control = req.function | DIR_FROM_METER
        if req.function != READ_DATA:
            return Frame(self.address, control | ABNORMAL, bytes([ErrorFlag.UNAUTHORIZED]))
        with self._lock:
            forced = self._errors.pop(0) if self._errors else None
        if forced is not None:
            return Frame(self.address, control | ABNORMAL, bytes([int(forced)]))
        di = int.from_bytes(req.data[:4], "little") if len(req.data) >= 4 else -1
        spec = DATA_IDS.get(di)
        if spec is None:
            return Frame(self.address, control | ABNORMAL, bytes([ErrorFlag.NO_DATA]))
        try:
            value = encode_bcd(self.reading(spec), spec.length, spec.decimals, spec.signed)
        except BcdError:
            return Frame(self.address, control | ABNORMAL, bytes([ErrorFlag.OTHER]))
        return Frame(self.address, control, spec.to_bytes() + value)

    def reading(self, spec: DataId) -> Decimal:
        """The value this meter reports for ``spec``, rounded to its decimals."""
        values = self.state
        if spec.name == "combined_active_energy":
            raw = values.value("import_energy") - values.value("export_energy")
        else:
            key, factor = _DI_VALUES[spec.name]
            raw = values.value(key) * factor
        return Decimal(str(raw)).quantize(Decimal(1).scaleb(-spec.decimals))

    # ------------------------------------------------------- scenario API ----

    def respond_error(self, flags: ErrorFlag = ErrorFlag.NO_DATA, count: int = 1) -> None:
        """Answer the next ``count`` reads with an abnormal response (0xD1) carrying ``flags``."""
        with self._lock:
            self._errors.extend([flags] * count)

    def reset_counter(self) -> None:
        self.state.reset_counter()

    def step_back(self, kwh: float) -> None:
        self.state.step_back(kwh)

    def inject_garbage(self, n: int = 16) -> bytes:
        junk = bytes(self._rng.randrange(256) for _ in range(n))
        self.send(junk)
        return junk

    def stop(self, timeout: float = 2.0) -> None:
        super().stop(timeout)
        if self._own_pair:
            self.pair.close()

    def __enter__(self) -> Dlt645MeterSim:
        self.start()
        return self
