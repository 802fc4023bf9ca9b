"""DL/T 645-2007 (多功能电能表通信协议): frame codec, BCD fields, data identifiers and a serial client."""

from firmware_bridge.dlt645.bcd import decode_bcd, encode_bcd
from firmware_bridge.dlt645.client import Dlt645Client, Dlt645Stats
from firmware_bridge.dlt645.errors import (
    BcdError,
    Dlt645DataError,
    Dlt645Error,
    Dlt645ErrorResponse,
    Dlt645FrameError,
    Dlt645LinkError,
    Dlt645TimeoutError,
    ErrorFlag,
)
from firmware_bridge.dlt645.frame import Frame, FrameParser, checksum, decode_frame, encode_frame
from firmware_bridge.dlt645.identifiers import DATA_IDS, DataId, data_id

__all__ = [
    "DATA_IDS",
    "BcdError",
    "DataId",
    "Dlt645Client",
    "Dlt645DataError",
    "Dlt645Error",
    "Dlt645ErrorResponse",
    "Dlt645FrameError",
    "Dlt645LinkError",
    "Dlt645Stats",
    "Dlt645TimeoutError",
    "ErrorFlag",
    "Frame",
    "FrameParser",
    "checksum",
    "data_id",
    "decode_bcd",
    "decode_frame",
    "encode_bcd",
    "encode_frame",
]
