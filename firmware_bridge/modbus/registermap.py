"""Meter register maps as data: a YAML file per meter model, validated into :class:`MeterMap`.

A quantity is ``address`` (0-65535, as sent on the wire), ``function`` (3 holding / 4 input registers),
``datatype`` (int16 uint16 int32 uint32 int64 uint64 float32 float64), ``word_order`` (big: high word
first), ``scale`` (value = raw × scale, so that it is in ``unit``) and ``unit``, one of the canonical
units below: a register in kW is written ``unit: W`` with ``scale: 1000``. ``defaults`` fill in fields a
quantity leaves out. Name quantities by convention — ``voltage``, ``current``, ``active_power``,
``reactive_power``, ``power_factor``, ``frequency``, ``import_energy``, ``export_energy``, with ``_a``/
``_b``/``_c`` (``_ab``…) for phases — so apps and simulators find them in any meter.

``load_map("ddsu666")`` loads a map shipped in ``maps/``; ``load_map(path)`` loads any file. Errors name
the file, the key and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Datatype = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
Unit = Literal["V", "A", "W", "var", "VA", "kWh", "kvarh", "Hz", "", "°C", "%", "s"]
REGISTERS: dict[str, int] = {
    "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "int64": 4, "uint64": 4, "float32": 2, "float64": 4,
}  # fmt: skip
_CONVERTIBLE_UNITS = {
    "kW": "W with scale 1000",
    "kvar": "var with scale 1000",
    "mA": "A with scale 0.001",
    "Wh": "kWh with scale 0.001",
    "kVA": "VA with scale 1000",
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class MeterMapError(ValueError):
    """A register map file is missing or invalid; the message names the file and the key."""


class Quantity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    address: int = Field(ge=0, le=0xFFFF, title="Register address", description="First register, as on the wire.")
    function: Literal[3, 4] = Field(3, title="Function code", description="3 holding, 4 input registers.")
    datatype: Datatype = Field(title="Data type", description="How the registers encode the raw value.")
    word_order: Literal["big", "little"] = Field("big", title="Word order", description="big: high word first.")
    scale: float = Field(1.0, title="Scale", description="value = raw × scale, in `unit`.")
    unit: Unit = Field(title="Unit", description="Canonical unit of the scaled value.")
    description: str = Field("", title="Description")

    @field_validator("unit", mode="before")
    @classmethod
    def _unit_hint(cls, v: Any) -> Any:
        if isinstance(v, str) and v in _CONVERTIBLE_UNITS:
            raise ValueError(f"unit {v!r} is not canonical: write unit {_CONVERTIBLE_UNITS[v]}")
        return v

    @field_validator("scale")
    @classmethod
    def _scale_nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("scale must not be 0")
        return v

    @property
    def registers(self) -> int:
        return REGISTERS[self.datatype]

    @property
    def end(self) -> int:
        return self.address + self.registers


class SerialSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    baudrate: int = Field(9600, gt=0, title="Baud rate")
    parity: Literal["N", "E", "O"] = Field("N", title="Parity")
    bytesize: Literal[7, 8] = Field(8, title="Data bits")
    stopbits: Literal[1, 2] = Field(1, title="Stop bits")


class MeterMap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, title="Meter model")
    vendor: str = Field("", title="Vendor")
    description: str = Field("", title="Description")
    source: str = Field("", title="Where the map comes from")
    device_id: int = Field(1, ge=1, le=247, title="Default Modbus device id")
    serial: SerialSettings = Field(default_factory=SerialSettings, title="Factory line settings")
    max_registers_per_read: int = Field(60, ge=1, le=125, title="Largest batched read (registers)")
    max_gap: int = Field(
        0, ge=0, le=64, title="Over-read gap", description="Unused registers a batched read may span; 0 = none."
    )
    quantities: dict[str, Quantity] = Field(min_length=1, title="Quantities by name")

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        defaults = data.pop("defaults", None) or {}
        if not isinstance(defaults, dict):
            raise ValueError("defaults must be a mapping of quantity fields")
        quantities = data.get("quantities")
        if isinstance(quantities, dict):
            data["quantities"] = {k: ({**defaults, **v} if isinstance(v, dict) else v) for k, v in quantities.items()}
        return data

    @model_validator(mode="after")
    def _check(self) -> MeterMap:
        for name, q in self.quantities.items():
            if not _NAME.match(name):
                raise ValueError(f"quantity name {name!r} must be lower_snake_case")
            if q.registers > self.max_registers_per_read:
                raise ValueError(f"quantity {name!r} needs {q.registers} registers > max_registers_per_read")
            if q.end > 0x10000:
                raise ValueError(f"quantity {name!r} runs past register 65535")
        by_fc: dict[int, list[tuple[str, Quantity]]] = {}
        for name, q in self.quantities.items():
            by_fc.setdefault(q.function, []).append((name, q))
        for items in by_fc.values():
            items.sort(key=lambda item: item[1].address)
            for (n1, q1), (n2, q2) in pairwise(items):
                if q2.address < q1.end:
                    raise ValueError(f"quantities {n1!r} and {n2!r} overlap (function {q1.function})")
        return self

    def quantity(self, name: str) -> Quantity:
        try:
            return self.quantities[name]
        except KeyError:
            known = ", ".join(self.quantities)
            raise KeyError(f"meter map {self.name}: no quantity {name!r}; it has {known}") from None


@dataclass(frozen=True)
class ReadBlock:
    """One Modbus read covering ``quantities``: ``count`` registers from ``address`` with ``function``."""

    function: int
    address: int
    count: int
    quantities: tuple[str, ...]


def plan_reads(meter_map: MeterMap, names: list[str] | tuple[str, ...]) -> list[ReadBlock]:
    """Batch the quantities ``names`` into as few reads as the map allows (contiguous, or across ``max_gap``)."""
    wanted = sorted({n: meter_map.quantity(n) for n in names}.items(), key=lambda i: (i[1].function, i[1].address))
    blocks: list[ReadBlock] = []
    cur: list[tuple[str, Quantity]] = []

    def flush() -> None:
        if cur:
            start, end = cur[0][1].address, max(q.end for _, q in cur)
            blocks.append(ReadBlock(cur[0][1].function, start, end - start, tuple(n for n, _ in cur)))

    for name, q in wanted:
        if cur:
            first, end = cur[0][1], max(c.end for _, c in cur)
            fits = q.function == first.function and q.address - end <= meter_map.max_gap
            if fits and max(end, q.end) - first.address <= meter_map.max_registers_per_read:
                cur.append((name, q))
                continue
            flush()
            cur = []
        cur.append((name, q))
    flush()
    return blocks


def _shipped(name: str) -> Path | None:
    ref = resources.files("firmware_bridge.modbus").joinpath("maps").joinpath(f"{name.lower()}.yaml")
    return Path(str(ref)) if ref.is_file() else None


def available_maps() -> list[str]:
    """Names of the maps shipped in firmware_bridge/modbus/maps/."""
    folder = resources.files("firmware_bridge.modbus").joinpath("maps")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_map(name_or_path: str | Path) -> MeterMap:
    """A shipped map by name (``"ddsu666"``) or any YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix and (shipped := _shipped(str(name_or_path))) is not None:
        path = shipped
    if not path.is_file():
        raise MeterMapError(f"meter map {str(name_or_path)!r}: no such file, and not one of {available_maps()}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise MeterMapError(f"{path}: not valid YAML: {e}") from e
    return parse_map(data, str(path))


def parse_map(data: Any, origin: str = "<map>") -> MeterMap:
    """Validate a map given as a dict; errors name ``origin`` and the key."""
    try:
        return MeterMap.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors(include_url=False)
        )
        raise MeterMapError(f"{origin}: {problems}") from e
