"""What residents plug into a pile outlet, as AC loads that evolve with (simulated) time.

A :class:`Load` is stepped with the seconds it was powered; it reports the AC power it draws and its
power factor. :class:`BatteryCharger` models a 3-stage (lead-acid) or CC/CV (lithium) bike charger
from its battery: constant current while the pack voltage rises, constant voltage while the current
tapers, then float (lead-acid, ≈2 W) or off (lithium, only the charger's own standby).
Named presets are in :data:`LOADS`; :func:`make_load` builds one by name with parameter overrides.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any


class Load(ABC):
    """Base of everything pluggable. ``stage`` names where it is (for tests and scenario logs)."""

    name: str = "load"
    power_factor: float = 1.0

    @abstractmethod
    def step(self, dt_s: float) -> None:
        """Advance by ``dt_s`` seconds of being powered (not called while the outlet is dead)."""

    @abstractmethod
    def ac_power_w(self) -> float:
        """AC power drawn from the outlet while powered, W."""

    @property
    def stage(self) -> str:
        return "on"


@dataclass
class ChargerSpec:
    v_empty: float  # pack voltage when charging starts (at soc_start)
    v_cv: float  # constant-voltage set point, reached at soc_cv
    i_cc: float  # constant current, A
    i_cv_end: float  # CV ends when the current has tapered to this, A
    capacity_ah: float
    soc_start: float = 0.25
    soc_cv: float = 0.85
    v_float: float = 0.0  # float voltage; 0: no float stage (lithium: the charger switches off)
    i_float: float = 0.0
    efficiency: float = 0.85  # DC out / AC in
    overhead_w: float = 0.3  # the charger's own draw while powered
    power_factor: float = 0.62  # small chargers have no PFC

    def __post_init__(self) -> None:
        if not 0 <= self.soc_start < 1 or not 0 < self.soc_cv < 1:
            raise ValueError(f"state of charge must be within 0-1 (start {self.soc_start}, cv {self.soc_cv})")
        if self.i_cc <= 0 or self.capacity_ah <= 0 or not 0 < self.efficiency <= 1:
            raise ValueError("charger current, capacity and efficiency must be positive (efficiency <= 1)")


class BatteryCharger(Load):
    def __init__(self, name: str, spec: ChargerSpec) -> None:
        self.name = name
        self.spec = spec
        self.power_factor = spec.power_factor
        self.soc = spec.soc_start
        self._stage = "cc" if spec.soc_start < spec.soc_cv else "cv"
        self.charged_s = 0.0

    @property
    def stage(self) -> str:
        return self._stage

    def battery_voltage(self) -> float:
        s = self.spec
        if self._stage == "cc":
            span = max(s.soc_cv - s.soc_start, 1e-9)
            f = min(1.0, max(0.0, (self.soc - s.soc_start) / span))
            return s.v_empty + (s.v_cv - s.v_empty) * f**1.5
        if self._stage == "cv":
            return s.v_cv
        return s.v_float

    def battery_current(self) -> float:
        s = self.spec
        if self._stage == "cc":
            return s.i_cc
        if self._stage == "cv":
            return s.i_cc * (1.0 - self.soc) / (1.0 - s.soc_cv)
        return s.i_float

    def step(self, dt_s: float) -> None:
        s = self.spec
        self.charged_s += dt_s
        if self._stage == "cc":
            self.soc = min(1.0, self.soc + s.i_cc * dt_s / 3600.0 / s.capacity_ah)
            if self.soc >= s.soc_cv:
                self._stage = "cv"
        elif self._stage == "cv":
            # dsoc/dt = k (1 - soc): integrate exactly so big steps stay stable
            k = s.i_cc / (1.0 - s.soc_cv) / 3600.0 / s.capacity_ah
            self.soc = 1.0 - (1.0 - self.soc) * math.exp(-k * dt_s)
            if self.battery_current() <= s.i_cv_end:
                self._stage = "float" if s.v_float > 0 else "done"

    def ac_power_w(self) -> float:
        s = self.spec
        if self._stage == "done":
            return s.overhead_w
        return self.battery_voltage() * self.battery_current() / s.efficiency + s.overhead_w


@dataclass
class ConstantLoad(Load):
    """A fixed draw of ``watts``; after ``full_after_s`` powered seconds it drops to ``trickle_w``."""

    name: str = "constant"
    watts: float = 5.0
    power_factor: float = 1.0
    full_after_s: float | None = None
    trickle_w: float = 0.0
    powered_s: float = field(default=0.0)

    def step(self, dt_s: float) -> None:
        self.powered_s += dt_s

    @property
    def stage(self) -> str:
        return "full" if self.full_after_s is not None and self.powered_s >= self.full_after_s else "on"

    def ac_power_w(self) -> float:
        return self.trickle_w if self.stage == "full" else self.watts


#: 48 V 12 Ah lead-acid bike, 1.8 A charger: CC ≈106→125 W for ~4 h, CV taper to ~21 W for ~1.8 h, float ≈2.2 W.
EBIKE_48V = ChargerSpec(
    v_empty=50.0,
    v_cv=59.0,
    i_cc=1.8,
    i_cv_end=0.3,
    capacity_ah=12.0,
    soc_start=0.25,
    soc_cv=0.85,
    v_float=55.2,
    i_float=0.03,
    efficiency=0.85,
    overhead_w=0.3,
    power_factor=0.62,
)
#: 48 V lithium pack (13S, 54.6 V), 2 A charger that switches off when full (≈0.5 W standby).
EBIKE_48V_LI = ChargerSpec(
    v_empty=46.0,
    v_cv=54.6,
    i_cc=2.0,
    i_cv_end=0.2,
    capacity_ah=12.0,
    soc_start=0.2,
    soc_cv=0.9,
    efficiency=0.87,
    overhead_w=0.5,
    power_factor=0.6,
)
#: Modified 72 V (20S, 84 V) pack on a 3 A charger, beyond GB 17761's 48 V: ≈230-290 W, the "illegal battery" case.
EBIKE_72V_MODIFIED = ChargerSpec(
    v_empty=68.0,
    v_cv=84.0,
    i_cc=3.0,
    i_cv_end=0.3,
    capacity_ah=20.0,
    soc_start=0.2,
    soc_cv=0.9,
    efficiency=0.88,
    overhead_w=0.8,
    power_factor=0.65,
)

LOADS: dict[str, str] = {
    "ebike_48v": "48 V lead-acid bike, 3-stage charger (CC 1.8 A, CV taper, float ≈2 W), ~6 h",
    "ebike_48v_li": "48 V lithium bike, CC/CV charger that switches off when full",
    "ebike_72v_modified": "modified 60-72 V pack on a 3 A charger (≈230-290 W)",
    "phone": "phone charger, ≈5 W for 1.5 h then 0.6 W",
    "idle_charger": "a bike charger plugged in with no bike on it, 0.4 W",
    "overload": "an 800 W load on one outlet (heater, illegal fast charger): over the 600 W port limit",
}


def make_load(kind: str, **overrides: Any) -> Load:
    """A fresh load of preset ``kind`` (see :data:`LOADS`); ``overrides`` change its spec fields."""
    chargers = {"ebike_48v": EBIKE_48V, "ebike_48v_li": EBIKE_48V_LI, "ebike_72v_modified": EBIKE_72V_MODIFIED}
    if kind in chargers:
        return BatteryCharger(kind, replace(chargers[kind], **overrides))
    constants: dict[str, dict[str, Any]] = {
        "phone": {"watts": 5.0, "power_factor": 0.5, "full_after_s": 5400.0, "trickle_w": 0.6},
        "idle_charger": {"watts": 0.4, "power_factor": 0.3},
        "overload": {"watts": 800.0, "power_factor": 0.98},
    }
    if kind in constants:
        return ConstantLoad(name=kind, **{**constants[kind], **overrides})
    raise ValueError(f"unknown load {kind!r}; known: {', '.join(sorted(LOADS))}")
