"""The pile's feeder meter: readings, link health, and an energy total that survives counter resets.

A meter's energy register may restart at 0 (meter replaced, cleared) or jump backwards (fault, tampering).
Either is reported once (``on_fault``) and the running total is rebased, so the pile's energy never goes down and
nothing is counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmware_bridge.dlt645.client import Dlt645Client
from firmware_bridge.errors import BridgeError
from firmware_bridge.modbus.client import MeterClient

from .config import MeterConfig

RESET_FLOOR_KWH = 0.01
MAX_POWER_W = 100_000  # absurd readings are refused as bad data


@dataclass
class MeterReading:
    energy_kwh: float
    power_w: float
    voltage_v: float
    at: float


class PileMeter:
    def __init__(self, cfg: MeterConfig, port: Any, clock: Callable[[], float],
                 on_fault: Callable[[str, str, float], None], total_kwh: float = 0.0,
                 last_raw_kwh: float | None = None) -> None:
        self.cfg = cfg
        self.clock = clock
        self.on_fault = on_fault
        if cfg.protocol == "dlt645":
            self.client: Any = Dlt645Client(port, cfg.address, timeout=cfg.timeout_s, retries=cfg.retries)
        else:
            self.client = MeterClient(port, cfg.map, cfg.device_id, cfg.timeout_s, retries=cfg.retries,
                                      busy_retries=cfg.busy_retries, busy_backoff_s=cfg.busy_backoff_s)
        self.last: MeterReading | None = None
        self.last_ok: float = clock()
        self.last_error: str | None = None
        self.errors = 0
        self.reads = 0
        self.total_kwh = total_kwh  # monotonic energy through this meter since the agent first saw it
        self.last_raw_kwh = last_raw_kwh
        self.resets = 0
        self.read_ms = 0.0

    def read(self) -> MeterReading | None:
        t0 = time.monotonic()
        try:
            if isinstance(self.client, Dlt645Client):
                energy = self.client.read_energy()
                power = self.client.read_power()  # W (the client converts the meter's kW)
                voltage = self.client.read_voltage()
            else:
                r = self.client.read("import_energy", "active_power", "voltage")
                energy, power, voltage = r["import_energy"].value, r["active_power"].value, r["voltage"].value
        except BridgeError as e:
            self.errors += 1
            self.last_error = str(e)
            return None
        self.read_ms = (time.monotonic() - t0) * 1000
        if not (0 <= energy < 1e9 and -MAX_POWER_W < power < MAX_POWER_W and 0 <= voltage < 1000):
            self.errors += 1
            self.last_error = f"implausible reading: {energy} kWh, {power} W, {voltage} V"
            return None
        now = self.clock()
        self._account(float(energy))
        self.reads += 1
        self.last_ok = now
        self.last_error = None
        self.last = MeterReading(float(energy), max(0.0, float(power)), float(voltage), now)
        return self.last

    def _account(self, energy: float) -> None:
        prev = self.last_raw_kwh
        self.last_raw_kwh = energy
        if prev is None:
            return
        if energy + 1e-6 < prev:
            # back to (nearly) zero: the register was reset (meter replaced or cleared); otherwise it ran backwards
            kind = "meter_counter_reset" if energy <= max(RESET_FLOOR_KWH, 0.05 * prev) else "meter_counter_backwards"
            self.resets += 1
            self.on_fault(kind, f"energy register went from {prev:.3f} to {energy:.3f} kWh", energy)
            return  # rebased: the new value is the new base, nothing is added or taken away
        self.total_kwh += energy - prev

    @property
    def transient_retries(self) -> int:
        """Busy / acknowledge / gateway answers asked again (Modbus; DL/T 645 has none)."""
        return int(getattr(self.client.stats, "transient", 0))

    def lost(self) -> bool:
        return self.clock() - self.last_ok > self.cfg.lost_after_s

    def close(self) -> None:
        try:
            self.client.close()
        except BridgeError:
            pass
