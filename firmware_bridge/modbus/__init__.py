"""Modbus RTU meters through pymodbus, described by register maps written as data (``maps/*.yaml``)."""

from firmware_bridge.modbus.client import MeterClient, MeterStats, Reading
from firmware_bridge.modbus.errors import (
    MeterAbsentError,
    MeterCrcError,
    MeterError,
    MeterExceptionResponse,
    MeterLinkError,
    MeterTimeoutError,
)
from firmware_bridge.modbus.registermap import (
    MeterMap,
    MeterMapError,
    Quantity,
    ReadBlock,
    available_maps,
    load_map,
    parse_map,
    plan_reads,
)

__all__ = [
    "MeterAbsentError",
    "MeterClient",
    "MeterCrcError",
    "MeterError",
    "MeterExceptionResponse",
    "MeterLinkError",
    "MeterMap",
    "MeterMapError",
    "MeterStats",
    "MeterTimeoutError",
    "Quantity",
    "ReadBlock",
    "Reading",
    "available_maps",
    "load_map",
    "parse_map",
    "plan_reads",
]
