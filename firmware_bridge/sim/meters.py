"""What a simulated meter measures: a source of values shared by the DL/T 645 and Modbus meter sims.

A source is a mapping, or a callable returning one, with any of these keys (others are ignored):
``voltage`` V, ``current`` A, ``active_power`` W, ``reactive_power`` var, ``apparent_power`` VA,
``power_factor``, ``frequency`` Hz, ``import_energy`` kWh, ``export_energy`` kWh.
``PileSim.meter_values`` is one: a meter on the pile's feeder then integrates the pile's power.
:class:`MeterState` adds what goes wrong with a real meter's register: reset to zero, running backwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

Source = Mapping[str, float] | Callable[[], Mapping[str, float]]

DEFAULTS: dict[str, float] = {
    "voltage": 220.0,
    "current": 0.0,
    "active_power": 0.0,
    "reactive_power": 0.0,
    "apparent_power": 0.0,
    "power_factor": 1.0,
    "frequency": 50.0,
    "import_energy": 0.0,
    "export_energy": 0.0,
}
_PHASE_SUFFIXES = ("_a", "_b", "_c", "_ab", "_bc", "_ca", "_total", "_t")


class MeterState:
    """Values from ``source`` with overrides and energy-register faults applied. Thread-safe."""

    def __init__(self, source: Source | None = None) -> None:
        self._lock = threading.Lock()
        self.source: Source = source if source is not None else {}
        self.overrides: dict[str, float] = {}
        self._energy_offset = 0.0

    def _source_values(self) -> dict[str, float]:
        src = self.source() if callable(self.source) else self.source
        return {**DEFAULTS, **src}

    def values(self) -> dict[str, float]:
        with self._lock:
            values = self._source_values()
            values.update(self.overrides)
            values["import_energy"] = values["import_energy"] + self._energy_offset
            return values

    def value(self, name: str) -> float:
        """The value for ``name``; phase names (``voltage_a``, ``current_b``) fall back to the base quantity."""
        values = self.values()
        if name in values:
            return values[name]
        for suffix in _PHASE_SUFFIXES:
            if name.endswith(suffix) and name[: -len(suffix)] in values:
                return values[name[: -len(suffix)]]
        return 0.0

    def set(self, **values: float) -> None:
        """Pin quantities to fixed values (``set(voltage=198.0)``), overriding the source."""
        with self._lock:
            self.overrides.update(values)

    def clear(self, *names: str) -> None:
        with self._lock:
            for n in names or tuple(self.overrides):
                self.overrides.pop(n, None)

    def reset_counter(self) -> None:
        """The energy register restarts at 0 (meter replaced or cleared) while the source goes on."""
        with self._lock:
            self._energy_offset = -(self._source_values()["import_energy"] + self.overrides.get("import_energy", 0.0))

    def step_back(self, kwh: float) -> None:
        """The energy register jumps back by ``kwh`` (a faulty or tampered meter)."""
        with self._lock:
            self._energy_offset -= kwh
