"""Message types and payloads of the pile MCU link, one encoder/decoder pair each (see PROTOCOL.md).

All multi-byte fields are little-endian. Ports are numbered from 1.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from firmware_bridge.pile.errors import PileFrameError

PROTOCOL_VERSION = 1
NO_TEMPERATURE = 0x7FFF  # temperature field when the sensor gives no valid reading


class MsgType(enum.IntEnum):
    # host -> MCU requests; the MCU answers with TYPE | 0x80 and the same SEQ
    HELLO = 0x01
    HEARTBEAT = 0x02
    SET_RELAY = 0x03
    READ_PORTS = 0x04
    READ_SMOKE = 0x05
    CLEAR_FAULT = 0x06
    # MCU -> host unsolicited events, MCU's own SEQ; the host answers EVENT_ACK with that SEQ
    EVT_PLUG = 0x41
    EVT_SMOKE = 0x42
    EVT_FAULT = 0x43
    EVT_WATCHDOG = 0x44
    EVT_BOOT = 0x45
    # host -> MCU
    EVENT_ACK = 0x7F
    # MCU -> host responses
    HELLO_OK = 0x81
    HEARTBEAT_OK = 0x82
    SET_RELAY_OK = 0x83
    READ_PORTS_OK = 0x84
    READ_SMOKE_OK = 0x85
    CLEAR_FAULT_OK = 0x86
    ERROR = 0xFE


REQUESTS = frozenset(
    {MsgType.HELLO, MsgType.HEARTBEAT, MsgType.SET_RELAY, MsgType.READ_PORTS, MsgType.READ_SMOKE, MsgType.CLEAR_FAULT}
)
EVENTS = frozenset({MsgType.EVT_PLUG, MsgType.EVT_SMOKE, MsgType.EVT_FAULT, MsgType.EVT_WATCHDOG, MsgType.EVT_BOOT})


def is_event_type(type_: int) -> bool:
    """0x40-0x7E are MCU events (known or added by a later firmware): the host acknowledges them all."""
    return 0x40 <= type_ < MsgType.EVENT_ACK


def response_type(request: int) -> int:
    return request | 0x80


class ErrorCode(enum.IntEnum):
    UNKNOWN_TYPE = 1
    BAD_LENGTH = 2
    BAD_PORT = 3
    BAD_VALUE = 4
    UNSUPPORTED_VERSION = 5


class ResetCause(enum.IntEnum):
    POWER_ON = 0
    WATCHDOG = 1
    BROWN_OUT = 2
    SOFTWARE = 3
    PIN_RESET = 4


class StatusFlag(enum.IntFlag):
    """Pile-wide status byte (READ_PORTS_OK, HEARTBEAT_OK)."""

    SMOKE = 0x01  # smoke detector input active now
    WATCHDOG_TRIPPED = 0x02  # the host watchdog dropped all relays since the last HELLO
    EVENTS_LOST = 0x04  # an event was dropped unacknowledged since the last HELLO


class PortFlag(enum.IntFlag):
    """Per-port flags byte of a port record."""

    PLUGGED = 0x01  # plug-detect switch closed
    RELAY_ON = 0x02  # relay coil commanded on
    OUTPUT_LIVE = 0x04  # mains sensed on the outlet, after relay and fuse: the actual relay state
    RELAY_WELDED = 0x08  # latched: output live (or current) while the coil is off
    FUSE_BLOWN = 0x10  # latched: coil on but no mains on the outlet
    TEMP_SENSOR_FAULT = 0x20  # sensor open/shorted or out of range; temperature then reads 0x7FFF or raw


class Fault(enum.IntEnum):
    RELAY_WELDED = 1
    FUSE_BLOWN = 2
    TEMP_SENSOR = 3


FAULT_FLAG = {
    Fault.RELAY_WELDED: PortFlag.RELAY_WELDED,
    Fault.FUSE_BLOWN: PortFlag.FUSE_BLOWN,
    Fault.TEMP_SENSOR: PortFlag.TEMP_SENSOR_FAULT,
}


def _unpack(fmt: str, payload: bytes, what: str) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    if len(payload) != size:
        raise PileFrameError(f"{what} payload must be {size} bytes, got {len(payload)}")
    return struct.unpack(fmt, payload)


def _u8(name: str, v: int) -> int:
    if not 0 <= v <= 0xFF:
        raise PileFrameError(f"{name} must be 0-255, not {v}")
    return v


# ---------------------------------------------------------------- requests ----


def hello_request(version: int = PROTOCOL_VERSION) -> bytes:
    return bytes([_u8("protocol version", version)])


def heartbeat_request(watchdog_s: int) -> bytes:
    if not 0 <= watchdog_s <= 0xFFFF:
        raise PileFrameError(f"watchdog must be 0-65535 s, not {watchdog_s}")
    return struct.pack("<H", watchdog_s)


def parse_heartbeat_request(payload: bytes) -> int:
    return _unpack("<H", payload, "HEARTBEAT")[0]


def set_relay_request(port: int, on: bool) -> bytes:
    return bytes([_u8("port", port), 1 if on else 0])


def parse_set_relay_request(payload: bytes) -> tuple[int, int]:
    port, on = _unpack("<BB", payload, "SET_RELAY")
    return port, on


def port_request(port: int) -> bytes:
    return bytes([_u8("port", port)])


# --------------------------------------------------------------- responses ----


@dataclass(frozen=True)
class McuInfo:
    protocol_version: int
    port_count: int
    firmware: tuple[int, int, int]
    hardware_revision: int
    reset_cause: ResetCause | int
    uptime_s: int

    _FMT = "<BBBBBBBI"

    def encode(self) -> bytes:
        return struct.pack(
            self._FMT,
            self.protocol_version,
            self.port_count,
            *self.firmware,
            self.hardware_revision,
            int(self.reset_cause),
            self.uptime_s,
        )

    @classmethod
    def decode(cls, payload: bytes) -> McuInfo:
        v, n, a, b, c, hw, cause, up = _unpack(cls._FMT, payload, "HELLO_OK")
        return cls(v, n, (a, b, c), hw, _enum(ResetCause, cause), up)

    @property
    def firmware_version(self) -> str:
        return ".".join(map(str, self.firmware))


def _enum(cls: type[enum.IntEnum], value: int) -> enum.IntEnum | int:
    try:
        return cls(value)
    except ValueError:
        return value


@dataclass(frozen=True)
class Heartbeat:
    uptime_s: int
    status: StatusFlag
    rx_crc_errors: int
    pending_events: int

    _FMT = "<IBHB"

    def encode(self) -> bytes:
        return struct.pack(self._FMT, self.uptime_s, int(self.status), self.rx_crc_errors, self.pending_events)

    @classmethod
    def decode(cls, payload: bytes) -> Heartbeat:
        up, status, crc, pending = _unpack(cls._FMT, payload, "HEARTBEAT_OK")
        return cls(up, StatusFlag(status), crc, pending)


@dataclass(frozen=True)
class RelayAck:
    """Answer to SET_RELAY: ``actual`` is whether mains is on the outlet now (after relay and fuse)."""

    port: int
    requested: bool
    actual: bool
    flags: PortFlag

    _FMT = "<BBBB"

    def encode(self) -> bytes:
        return struct.pack(self._FMT, self.port, int(self.requested), int(self.actual), int(self.flags))

    @classmethod
    def decode(cls, payload: bytes) -> RelayAck:
        port, req, act, flags = _unpack(cls._FMT, payload, "SET_RELAY_OK")
        return cls(port, bool(req), bool(act), PortFlag(flags))


@dataclass(frozen=True)
class PortStatus:
    """One port in a READ_PORTS answer, in engineering units."""

    port: int
    flags: PortFlag
    power_w: float
    current_ma: int
    voltage_v: float
    temperature_c: float | None  # None: no valid reading (sensor open)
    energy_wh: int

    _FMT = "<BBHHHhI"
    SIZE = struct.calcsize(_FMT)

    @property
    def plugged(self) -> bool:
        return PortFlag.PLUGGED in self.flags

    @property
    def relay_on(self) -> bool:
        return PortFlag.RELAY_ON in self.flags

    @property
    def output_live(self) -> bool:
        return PortFlag.OUTPUT_LIVE in self.flags

    @property
    def faults(self) -> frozenset[Fault]:
        return frozenset(f for f, flag in FAULT_FLAG.items() if flag in self.flags)

    def encode(self) -> bytes:
        temp = NO_TEMPERATURE if self.temperature_c is None else _clamp(round(self.temperature_c * 10), -32768, 32766)
        return struct.pack(
            self._FMT,
            self.port,
            int(self.flags),
            _clamp(round(self.power_w * 10), 0, 0xFFFF),
            _clamp(self.current_ma, 0, 0xFFFF),
            _clamp(round(self.voltage_v * 10), 0, 0xFFFF),
            temp,
            _clamp(self.energy_wh, 0, 0xFFFFFFFF),
        )

    @classmethod
    def decode(cls, record: bytes) -> PortStatus:
        port, flags, p, i, v, t, e = _unpack(cls._FMT, record, "port record")
        return cls(port, PortFlag(flags), p / 10, i, v / 10, None if t == NO_TEMPERATURE else t / 10, e)


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, int(v)))


@dataclass(frozen=True)
class PortsSnapshot:
    status: StatusFlag
    ports: tuple[PortStatus, ...]

    @property
    def smoke(self) -> bool:
        return StatusFlag.SMOKE in self.status

    def port(self, number: int) -> PortStatus:
        for p in self.ports:
            if p.port == number:
                return p
        raise KeyError(f"port {number} not in the snapshot (ports 1-{len(self.ports)})")

    @property
    def total_power_w(self) -> float:
        return sum(p.power_w for p in self.ports)

    def encode(self) -> bytes:
        return bytes([int(self.status), len(self.ports)]) + b"".join(p.encode() for p in self.ports)

    @classmethod
    def decode(cls, payload: bytes) -> PortsSnapshot:
        if len(payload) < 2:
            raise PileFrameError(f"READ_PORTS_OK payload must be at least 2 bytes, got {len(payload)}")
        count = payload[1]
        expected = 2 + count * PortStatus.SIZE
        if len(payload) != expected:
            raise PileFrameError(f"READ_PORTS_OK with {count} ports must be {expected} bytes, got {len(payload)}")
        size = PortStatus.SIZE
        ports = tuple(PortStatus.decode(payload[2 + k * size : 2 + (k + 1) * size]) for k in range(count))
        return cls(StatusFlag(payload[0]), ports)


@dataclass(frozen=True)
class FaultClearAck:
    port: int
    flags: PortFlag

    def encode(self) -> bytes:
        return bytes([self.port, int(self.flags)])

    @classmethod
    def decode(cls, payload: bytes) -> FaultClearAck:
        port, flags = _unpack("<BB", payload, "CLEAR_FAULT_OK")
        return cls(port, PortFlag(flags))


def error_payload(request_type: int, code: ErrorCode) -> bytes:
    return bytes([request_type & 0xFF, int(code)])


def parse_error(payload: bytes) -> tuple[int, ErrorCode | int]:
    req, code = _unpack("<BB", payload, "ERROR")
    return req, _enum(ErrorCode, code)


# ------------------------------------------------------------------ events ----


@dataclass(frozen=True)
class PileEvent:
    """Base of the unsolicited MCU events; ``seq`` is the MCU's sequence number of the frame."""

    seq: int


@dataclass(frozen=True)
class PlugEvent(PileEvent):
    port: int
    plugged: bool


@dataclass(frozen=True)
class SmokeEvent(PileEvent):
    active: bool


@dataclass(frozen=True)
class FaultEvent(PileEvent):
    port: int
    fault: Fault | int
    active: bool


@dataclass(frozen=True)
class WatchdogEvent(PileEvent):
    """The host was silent for ``timeout_s``: the MCU switched every relay off."""

    timeout_s: int


@dataclass(frozen=True)
class BootEvent(PileEvent):
    """The MCU (re)started: every relay is off and per-port energy counters restarted at 0."""

    reset_cause: ResetCause | int


def encode_event(event: PileEvent) -> tuple[MsgType, bytes]:
    if isinstance(event, PlugEvent):
        return MsgType.EVT_PLUG, bytes([event.port, int(event.plugged)])
    if isinstance(event, SmokeEvent):
        return MsgType.EVT_SMOKE, bytes([int(event.active)])
    if isinstance(event, FaultEvent):
        return MsgType.EVT_FAULT, bytes([event.port, int(event.fault), int(event.active)])
    if isinstance(event, WatchdogEvent):
        return MsgType.EVT_WATCHDOG, struct.pack("<H", event.timeout_s)
    if isinstance(event, BootEvent):
        return MsgType.EVT_BOOT, bytes([int(event.reset_cause)])
    raise PileFrameError(f"not an event: {event!r}")


def decode_event(seq: int, type_: int, payload: bytes) -> PileEvent:
    if type_ == MsgType.EVT_PLUG:
        port, plugged = _unpack("<BB", payload, "EVT_PLUG")
        return PlugEvent(seq, port, bool(plugged))
    if type_ == MsgType.EVT_SMOKE:
        (active,) = _unpack("<B", payload, "EVT_SMOKE")
        return SmokeEvent(seq, bool(active))
    if type_ == MsgType.EVT_FAULT:
        port, fault, active = _unpack("<BBB", payload, "EVT_FAULT")
        return FaultEvent(seq, port, _enum(Fault, fault), bool(active))
    if type_ == MsgType.EVT_WATCHDOG:
        (timeout,) = _unpack("<H", payload, "EVT_WATCHDOG")
        return WatchdogEvent(seq, timeout)
    if type_ == MsgType.EVT_BOOT:
        (cause,) = _unpack("<B", payload, "EVT_BOOT")
        return BootEvent(seq, _enum(ResetCause, cause))
    raise PileFrameError(f"message type 0x{type_:02X} is not an event")
