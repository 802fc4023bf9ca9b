"""pymodbus's RTU client with its byte transport replaced by a :class:`~firmware_bridge.link.SerialLink`.

pymodbus still builds and parses every frame, checks the CRC, matches answers and retries; only the
bytes travel through our link, so the client runs over the HAL's ``SerialPort`` on a Pi, a pyserial
object or a URL alike. Each try's raw answer bytes are kept in :attr:`LinkModbusClient.attempts` so a
failure can be told apart: nothing came back, a bad CRC, or a truncated answer.
"""

from __future__ import annotations

from pymodbus.client import ModbusSerialClient
from pymodbus.framer import FramerType

from firmware_bridge.link import SerialLink

#: register-map datatypes as pymodbus's converter names them
DATATYPES = {
    "int16": ModbusSerialClient.DATATYPE.INT16,
    "uint16": ModbusSerialClient.DATATYPE.UINT16,
    "int32": ModbusSerialClient.DATATYPE.INT32,
    "uint32": ModbusSerialClient.DATATYPE.UINT32,
    "int64": ModbusSerialClient.DATATYPE.INT64,
    "uint64": ModbusSerialClient.DATATYPE.UINT64,
    "float32": ModbusSerialClient.DATATYPE.FLOAT32,
    "float64": ModbusSerialClient.DATATYPE.FLOAT64,
}


class LinkModbusClient(ModbusSerialClient):
    def __init__(self, link: SerialLink, *, timeout: float, retries: int, baudrate: int, bytesize: int,
                 parity: str, stopbits: int) -> None:  # fmt: skip
        super().__init__(
            link.url,
            framer=FramerType.RTU,
            baudrate=baudrate,
            bytesize=bytesize,
            parity=parity,
            stopbits=stopbits,
            timeout=timeout,
            retries=retries,
            name=link.name,
        )
        self.link = link
        self.attempts: list[bytearray] = []

    @property
    def connected(self) -> bool:
        return True

    def connect(self) -> bool:
        self.link.open()  # raises LinkIOError naming the port
        return True

    def close(self) -> None:
        self.link.close()

    def is_socket_open(self) -> bool:
        return True

    def send(self, request: bytes, addr: tuple | None = None) -> int:
        self.link.reset_input()  # stale bytes of an earlier, late answer
        self.link.write(request)
        self.attempts.append(bytearray())
        return len(request)

    def recv(self, size: int | None) -> bytes:
        data = self.link.read_some(self.comm_params.timeout_connect or 1.0)
        if self.attempts:
            self.attempts[-1] += data
        return data
