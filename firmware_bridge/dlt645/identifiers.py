"""The data identifiers (DI, 数据标识) the client reads, with their BCD layout and unit.

A DI is written DI3 DI2 DI1 DI0 (``0x00010000``) and sent DI0 first. Public code disagrees on some of them
(one document calls 00010000 "export"); :data:`DATA_IDS` follows DL/T 645-2007 — verify per meter model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataId:
    """One readable quantity: ``length`` BCD bytes with ``decimals`` decimals, in ``unit``."""

    di: int
    name: str
    length: int
    decimals: int
    signed: bool
    unit: str
    description: str

    @property
    def code(self) -> str:
        return f"{self.di:08X}"

    def to_bytes(self) -> bytes:
        """DI0 first, as on the wire (before the +0x33 offset)."""
        return self.di.to_bytes(4, "little")


COMBINED_ACTIVE_ENERGY = DataId(0x00000000, "combined_active_energy", 4, 2, True, "kWh", "组合有功总电能 XXXXXX.XX")
FORWARD_ACTIVE_ENERGY = DataId(0x00010000, "forward_active_energy", 4, 2, False, "kWh", "正向有功总电能 XXXXXX.XX")
REVERSE_ACTIVE_ENERGY = DataId(0x00020000, "reverse_active_energy", 4, 2, False, "kWh", "反向有功总电能 XXXXXX.XX")
VOLTAGE_A = DataId(0x02010100, "voltage_a", 2, 1, False, "V", "A相电压 XXX.X")
VOLTAGE_B = DataId(0x02010200, "voltage_b", 2, 1, False, "V", "B相电压 XXX.X")
VOLTAGE_C = DataId(0x02010300, "voltage_c", 2, 1, False, "V", "C相电压 XXX.X")
CURRENT_A = DataId(0x02020100, "current_a", 3, 3, True, "A", "A相电流 XXX.XXX")
CURRENT_B = DataId(0x02020200, "current_b", 3, 3, True, "A", "B相电流 XXX.XXX")
CURRENT_C = DataId(0x02020300, "current_c", 3, 3, True, "A", "C相电流 XXX.XXX")
ACTIVE_POWER = DataId(0x02030000, "active_power", 3, 4, True, "kW", "瞬时总有功功率 XX.XXXX")
POWER_FACTOR = DataId(0x02060000, "power_factor", 2, 3, True, "", "总功率因数 X.XXX")
FREQUENCY = DataId(0x02800002, "frequency", 2, 2, False, "Hz", "电网频率 XX.XX")

DATA_IDS: dict[int, DataId] = {
    d.di: d
    for d in (
        COMBINED_ACTIVE_ENERGY,
        FORWARD_ACTIVE_ENERGY,
        REVERSE_ACTIVE_ENERGY,
        VOLTAGE_A,
        VOLTAGE_B,
        VOLTAGE_C,
        CURRENT_A,
        CURRENT_B,
        CURRENT_C,
        ACTIVE_POWER,
        POWER_FACTOR,
        FREQUENCY,
    )
}


def data_id(di: int | str | DataId) -> DataId:
    """Look a DI up by number, 8-hex-digit text (``"00010000"``) or name. KeyError names what is known."""
    if isinstance(di, DataId):
        return di
    if isinstance(di, str):
        for d in DATA_IDS.values():
            if d.name == di:
                return d
        try:
            di = int(di, 16)
        except ValueError:
            di = -1
    if isinstance(di, int) and di in DATA_IDS:
        return DATA_IDS[di]
    known = ", ".join(f"{d.code} {d.name}" for d in DATA_IDS.values())
    raise KeyError(f"unknown DL/T 645 data identifier {di!r}; known: {known}")
