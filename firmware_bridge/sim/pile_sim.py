"""A simulated charging-pile MCU speaking firmware_bridge/pile/PROTOCOL.md over a pty.

The agent opens :attr:`PileSim.device_path` as it would the MCU's USB-serial adapter. The test or demo
drives the world through the scenario API: ``plug(3, "ebike_48v")``, ``unplug(3)``, ``set_smoke(True)``,
``fail_temp_sensor(5)``, ``weld_relay(2)``, ``blow_fuse(4)``, ``go_silent()``, ``inject_garbage()``,
``leak(40)`` (current the feeder meter sees and no port measures), ``miscalibrate(3, 0.5)`` (a port measuring
half of what it draws)...
Time is a :class:`~firmware_bridge.sim.clock.SimClock`: with ``speed=3600`` a 6-hour charge takes 6 s.

Firmware timers that talk to the host (event retransmission, the host watchdog) run in real time, because
the host's traffic does; physics (charging, heating, energy) runs in simulated time. The simulator only
does what PROTOCOL.md says the MCU does: it applies no charging policy (overload, over-temperature, smoke
and "full" are the charger app's to act on). Typical test::

    clock = SimClock(speed=0)                      # frozen: move it with clock.advance(seconds)
    with PileSim(clock=clock) as pile, Dlt645MeterSim(source=pile.meter_values) as meter:
        agent_config = {"mcu_port": pile.device_path, "meter_port": meter.device_path}
        pile.plug(3, "ebike_48v")                  # the agent sees EVT_PLUG, switches port 3 on ...
        clock.advance(6 * 3600)                    # ... and six hours later the port floats at ≈2 W
        pile.set_smoke(True)                       # EVT_SMOKE: the agent must switch every port off
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from firmware_bridge.pile.frame import Frame, FrameParser, encode_frame
from firmware_bridge.pile.messages import (
    PROTOCOL_VERSION,
    REQUESTS,
    BootEvent,
    ErrorCode,
    Fault,
    FaultClearAck,
    FaultEvent,
    Heartbeat,
    McuInfo,
    MsgType,
    PileEvent,
    PlugEvent,
    PortFlag,
    PortsSnapshot,
    PortStatus,
    RelayAck,
    ResetCause,
    SmokeEvent,
    StatusFlag,
    WatchdogEvent,
    encode_event,
    error_payload,
    response_type,
)
from firmware_bridge.sim.clock import SimClock
from firmware_bridge.sim.faults import LineFaults
from firmware_bridge.sim.loads import Load, make_load
from firmware_bridge.sim.pty import PtyPair, PtyResponder

SensorMode = Literal["ok", "open", "zero", "max"]
_SENSOR_READING = {"zero": 0.0, "max": 255.0}
_MAX_STEP_S = 10.0  # physics sub-step, simulated seconds
_LIVE_V = 50.0  # outlet counts as live above this many volts
_TEMP_TAU_S = 600.0  # thermal time constant of an outlet, simulated seconds
_TEMP_K_PER_W = 0.03  # outlet temperature rise per watt drawn


@dataclass
class SimPort:
    """One outlet: what the MCU's hardware sees. Read it through :meth:`PileSim.port`."""

    number: int
    load: Load | None = None
    plugged: bool = False
    coil: bool = False
    welded: bool = False
    fuse_ok: bool = True
    sensor: SensorMode = "ok"
    temperature_c: float = 25.0
    forced_temperature_c: float | None = None
    energy_wh: float = 0.0  # what the outlet really delivered
    measure_factor: float = 1.0  # the port's power/energy measurement reads this times the truth
    measured_wh: float = 0.0  # the MCU's energy counter (measure_factor times the truth)
    latched: PortFlag = field(default_factory=lambda: PortFlag(0))
    reported: dict[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        """Mains on the outlet: after the relay contact (closed when energised or welded) and the fuse."""
        return self.fuse_ok and (self.coil or self.welded)

    def drawing(self) -> bool:
        return self.live and self.plugged and self.load is not None


@dataclass
class _Pending:
    seq: int
    raw: bytes
    event: PileEvent
    sends: int = 0
    last_sent: float = 0.0


class PileSim(LineFaults, PtyResponder):
    """A ``ports``-outlet pile MCU on its own :class:`PtyPair` (or ``pair``). Start with ``with PileSim() as sim``."""

    def __init__(
        self,
        ports: int = 10,
        *,
        speed: float = 1.0,
        clock: SimClock | None = None,
        pair: PtyPair | None = None,
        firmware: tuple[int, int, int] = (1, 0, 0),
        hardware_revision: int = 2,
        mains_v: float = 221.0,
        ambient_c: float = 25.0,
        standby_w: float = 3.0,
        event_retry_s: float = 0.2,
        event_max_sends: int = 10,
        seed: int = 0,
        name: str = "pile-sim",
    ) -> None:
        if not 1 <= ports <= 17:
            raise ValueError(f"a pile has 1-17 ports (one READ_PORTS frame), not {ports}")
        self._own_pair = pair is None
        super().__init__(pair or PtyPair(), name=name, poll_s=0.01)
        self.clock = clock or SimClock(speed)
        self.port_count = ports
        self.firmware = firmware
        self.hardware_revision = hardware_revision
        self.mains_v = mains_v
        self.ambient_c = ambient_c
        self.standby_w = standby_w
        self.event_retry_s = event_retry_s
        self.event_max_sends = event_max_sends
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._parser = FrameParser()
        self._ports = [SimPort(n, temperature_c=ambient_c) for n in range(1, ports + 1)]
        self._smoke = False
        self._smoke_reported = False
        self._status = StatusFlag(0)
        self._init_faults()
        self._duplicate_next = 0
        self._watchdog_s = 0
        self._watchdog_tripped = False
        self._last_host_rx = time.monotonic()
        self._boot_real = time.monotonic()
        self._reset_cause = ResetCause.POWER_ON
        self._event_seq = 0
        self._pending: list[_Pending] = []
        self._last_request: tuple[int, int, bytes] | None = None
        self._last_response = b""
        self._sim_t = self.clock.now()
        self.input_energy_wh = 0.0  # everything the pile drew, standby included: what its meter integrates
        self.leak_w = 0.0  # drawn through the feeder and no port (leakage to earth, a device wired in)
        # counters for tests
        self.requests_handled = 0
        self.duplicate_requests = 0
        self.rx_crc_errors = 0
        self.events_sent = 0
        self.acked_events: list[PileEvent] = []
        self.lost_events: list[PileEvent] = []

    # ------------------------------------------------------------ physics ----

    def _advance(self) -> None:
        now = self.clock.now()
        remaining = now - self._sim_t
        while remaining > 1e-9:
            dt = min(remaining, _MAX_STEP_S)
            total_w = self.standby_w + self.leak_w
            for p in self._ports:
                w = 0.0
                if p.drawing():
                    assert p.load is not None
                    w = p.load.ac_power_w()
                    p.load.step(dt)
                    p.energy_wh += w * dt / 3600.0
                    p.measured_wh += w * p.measure_factor * dt / 3600.0
                total_w += w
                target = self.ambient_c + _TEMP_K_PER_W * w
                p.temperature_c += (target - p.temperature_c) * (1.0 - math.exp(-dt / _TEMP_TAU_S))
            self.input_energy_wh += total_w * dt / 3600.0
            remaining -= dt
        self._sim_t = now

    def _measure(self, p: SimPort) -> PortStatus:
        flags = PortFlag(0)
        if p.plugged:
            flags |= PortFlag.PLUGGED
        if p.coil:
            flags |= PortFlag.RELAY_ON
        voltage = self.mains_v if p.live else 0.0
        if voltage > _LIVE_V:
            flags |= PortFlag.OUTPUT_LIVE
        power = self._true_power(p) * p.measure_factor
        pf = p.load.power_factor if p.load is not None else 1.0
        current_ma = round(power / (voltage * pf) * 1000) if voltage > 0 and power > 0 else 0
        temperature: float | None
        if p.sensor == "open":
            temperature = None
        elif p.sensor in _SENSOR_READING:
            temperature = _SENSOR_READING[p.sensor]
        else:
            temperature = p.forced_temperature_c if p.forced_temperature_c is not None else p.temperature_c
        if p.sensor in ("open", "max"):  # the firmware's range check catches these, not a plausible 0 °C
            flags |= PortFlag.TEMP_SENSOR_FAULT
        flags |= p.latched
        return PortStatus(p.number, flags, power, current_ma, voltage, temperature, int(p.measured_wh))

    @staticmethod
    def _true_power(p: SimPort) -> float:
        return p.load.ac_power_w() if p.drawing() and p.load is not None else 0.0

    # ----------------------------------------------------------- firmware ----

    def _detect(self) -> None:
        """What the firmware notices each loop: plug changes, faults, smoke. Queues events."""
        for p in self._ports:
            if p.reported.get("plugged", False) != p.plugged:
                p.reported["plugged"] = p.plugged
                self._queue(PlugEvent(0, p.number, p.plugged))
            if not p.coil and p.live and PortFlag.RELAY_WELDED not in p.latched:
                p.latched |= PortFlag.RELAY_WELDED
                self._queue(FaultEvent(0, p.number, Fault.RELAY_WELDED, True))
            if p.coil and not p.live and PortFlag.FUSE_BLOWN not in p.latched:
                p.latched |= PortFlag.FUSE_BLOWN
                self._queue(FaultEvent(0, p.number, Fault.FUSE_BLOWN, True))
            sensor_fault = p.sensor in ("open", "max")
            if p.reported.get("sensor_fault", False) != sensor_fault:
                p.reported["sensor_fault"] = sensor_fault
                self._queue(FaultEvent(0, p.number, Fault.TEMP_SENSOR, sensor_fault))
        if self._smoke != self._smoke_reported:
            self._smoke_reported = self._smoke
            self._queue(SmokeEvent(0, self._smoke))
        if self._smoke:
            self._status |= StatusFlag.SMOKE
        else:
            self._status &= ~StatusFlag.SMOKE

    def _queue(self, event: PileEvent) -> None:
        seq = self._event_seq
        self._event_seq = (self._event_seq + 1) & 0xFF
        type_, payload = encode_event(event)
        event = replace(event, seq=seq)
        self._pending.append(_Pending(seq, encode_frame(seq, type_, payload), event))

    def _watchdog(self, now: float) -> None:
        if self._watchdog_s and not self._watchdog_tripped and now - self._last_host_rx > self._watchdog_s:
            self._watchdog_tripped = True
            self._status |= StatusFlag.WATCHDOG_TRIPPED
            for p in self._ports:
                p.coil = False
            self._queue(WatchdogEvent(0, self._watchdog_s))

    def _events_due(self, now: float) -> bytes:
        out = bytearray()
        for pending in list(self._pending):
            if pending.sends and now - pending.last_sent < self.event_retry_s:
                continue
            if pending.sends >= self.event_max_sends:
                self._pending.remove(pending)
                self.lost_events.append(pending.event)
                self._status |= StatusFlag.EVENTS_LOST
                continue
            pending.sends += 1
            pending.last_sent = now
            self.events_sent += 1
            out += self._outgoing(pending.raw)
        return bytes(out)

    def _outgoing(self, raw: bytes) -> bytes:
        if self._corrupt_next:
            self._corrupt_next -= 1
            raw = raw[:-1] + bytes([raw[-1] ^ 0xFF])
        if self._duplicate_next:
            self._duplicate_next -= 1
            raw = raw + raw
        if self._garbage_next:
            raw = bytes(self._rng.randrange(256) for _ in range(self._garbage_next)) + raw
            self._garbage_next = 0
        return raw

    def tick(self) -> bytes | None:
        with self._lock:
            self._advance()
            if self._silent:
                return None
            now = time.monotonic()
            self._detect()
            self._watchdog(now)
            return self._events_due(now) or None

    def handle(self, data: bytes) -> bytes | None:
        with self._lock:
            self._advance()
            crc_before = self._parser.crc_errors
            frames = self._parser.feed(data)
            self.rx_crc_errors += self._parser.crc_errors - crc_before
            if self._silent:
                return None
            out = bytearray()
            for frame in frames:
                if self._drop_next:
                    self._drop_next -= 1
                    continue
                self._last_host_rx = time.monotonic()
                self._watchdog_tripped = False
                if frame.type == MsgType.EVENT_ACK:
                    self._on_ack(frame)
                    continue
                key = (frame.seq, frame.type, frame.payload)
                if key == self._last_request:
                    self.duplicate_requests += 1  # the host retried: same answer, not done twice
                    out += self._outgoing(self._last_response)
                    continue
                self._detect()
                response = self._execute(frame)
                self.requests_handled += 1
                self._last_request, self._last_response = key, response
                out += self._outgoing(response)
            return bytes(out) or None

    def _on_ack(self, frame: Frame) -> None:
        for pending in self._pending:
            if pending.seq == frame.seq and frame.payload[:1] == bytes([encode_event(pending.event)[0]]):
                self._pending.remove(pending)
                self.acked_events.append(pending.event)
                return

    def _execute(self, f: Frame) -> bytes:
        def ok(payload: bytes) -> bytes:
            return encode_frame(f.seq, response_type(f.type), payload)

        def err(code: ErrorCode) -> bytes:
            return encode_frame(f.seq, MsgType.ERROR, error_payload(f.type, code))

        if f.type not in REQUESTS:
            return err(ErrorCode.UNKNOWN_TYPE)
        expected_len = {
            MsgType.HELLO: 1,
            MsgType.HEARTBEAT: 2,
            MsgType.SET_RELAY: 2,
            MsgType.READ_PORTS: 0,
            MsgType.READ_SMOKE: 0,
            MsgType.CLEAR_FAULT: 1,
        }[MsgType(f.type)]
        if len(f.payload) != expected_len:
            return err(ErrorCode.BAD_LENGTH)
        uptime = int(time.monotonic() - self._boot_real)
        if f.type == MsgType.HELLO:
            if f.payload[0] != PROTOCOL_VERSION:
                return err(ErrorCode.UNSUPPORTED_VERSION)
            self._status &= StatusFlag.SMOKE  # HELLO clears the sticky flags
            info = McuInfo(
                PROTOCOL_VERSION, self.port_count, self.firmware, self.hardware_revision, self._reset_cause, uptime
            )
            return ok(info.encode())
        if f.type == MsgType.HEARTBEAT:
            self._watchdog_s = int.from_bytes(f.payload, "little")
            hb = Heartbeat(uptime, self._status, min(self.rx_crc_errors, 0xFFFF), min(len(self._pending), 255))
            return ok(hb.encode())
        if f.type in (MsgType.SET_RELAY, MsgType.CLEAR_FAULT):
            number = f.payload[0]
            if not 1 <= number <= self.port_count:
                return err(ErrorCode.BAD_PORT)
            p = self._ports[number - 1]
            if f.type == MsgType.CLEAR_FAULT:
                return ok(self._clear_fault(p).encode())
            if f.payload[1] > 1:
                return err(ErrorCode.BAD_VALUE)
            p.coil = bool(f.payload[1])
            self._detect()
            status = self._measure(p)
            return ok(RelayAck(number, p.coil, status.output_live, status.flags).encode())
        if f.type == MsgType.READ_PORTS:
            snapshot = PortsSnapshot(self._status, tuple(self._measure(p) for p in self._ports))
            return ok(snapshot.encode())
        return ok(bytes([int(self._smoke)]))  # READ_SMOKE

    def _clear_fault(self, p: SimPort) -> FaultClearAck:
        for fault, flag in ((Fault.RELAY_WELDED, PortFlag.RELAY_WELDED), (Fault.FUSE_BLOWN, PortFlag.FUSE_BLOWN)):
            if flag not in p.latched:
                continue
            still = (not p.coil and p.live) if fault == Fault.RELAY_WELDED else (p.coil and not p.live)
            if not still:
                p.latched &= ~flag
                self._queue(FaultEvent(0, p.number, fault, False))
        return FaultClearAck(p.number, self._measure(p).flags)

    # ------------------------------------------------------- scenario API ----

    def _port(self, number: int) -> SimPort:
        if not 1 <= number <= self.port_count:
            raise ValueError(f"{self.name}: no port {number} (ports 1-{self.port_count})")
        return self._ports[number - 1]

    def plug(self, port: int, load: str | Load = "ebike_48v", **overrides: Any) -> Load:
        """Plug ``load`` (a preset name from sim.loads.LOADS, or a Load) into ``port``; returns the Load."""
        with self._lock:
            self._advance()
            p = self._port(port)
            p.load = make_load(load, **overrides) if isinstance(load, str) else load
            p.plugged = True
            return p.load

    def unplug(self, port: int) -> None:
        with self._lock:
            self._advance()
            p = self._port(port)
            p.plugged, p.load = False, None

    def load(self, port: int) -> Load | None:
        with self._lock:
            self._advance()
            return self._port(port).load

    def set_smoke(self, active: bool = True) -> None:
        with self._lock:
            self._smoke = bool(active)

    def fail_temp_sensor(self, port: int, mode: SensorMode = "open") -> None:
        """Break a port's temperature sensor: 'open' (no reading), 'max' (reads 255 °C), 'zero' (reads 0 °C).

        The firmware flags 'open' and 'max' (out of range); a sensor stuck at 0 °C looks plausible to it.
        """
        if mode not in ("ok", "open", "zero", "max"):
            raise ValueError(f"sensor mode must be ok, open, zero or max, not {mode!r}")
        with self._lock:
            self._port(port).sensor = mode

    def fix_temp_sensor(self, port: int) -> None:
        self.fail_temp_sensor(port, "ok")

    def set_temperature(self, port: int, celsius: float | None) -> None:
        """Force the outlet's temperature (a loose contact heating up); None returns to the thermal model."""
        with self._lock:
            self._port(port).forced_temperature_c = celsius

    def weld_relay(self, port: int) -> None:
        """The relay contact welds shut: the outlet stays live whatever the coil does."""
        with self._lock:
            self._port(port).welded = True

    def blow_fuse(self, port: int) -> None:
        with self._lock:
            self._port(port).fuse_ok = False

    def repair(self, port: int) -> None:
        """A technician replaced the relay and fuse; latched faults stay until the host sends CLEAR_FAULT."""
        with self._lock:
            p = self._port(port)
            p.welded, p.fuse_ok = False, True

    def leak(self, watts: float) -> None:
        """Current through the feeder that no port measures (leakage to earth, something wired into the pile);
        0 stops it. The meter sees it, the MCU does not."""
        with self._lock:
            self._advance()
            self.leak_w = max(0.0, watts)

    def miscalibrate(self, port: int, factor: float) -> None:
        """The port's power and energy measurement reads ``factor`` times what it really delivers (1.0: right).
        The meter on the feeder sees the truth."""
        if factor < 0:
            raise ValueError(f"factor must be >= 0, not {factor}")
        with self._lock:
            self._advance()
            self._port(port).measure_factor = factor

    def set_mains_voltage(self, volts: float) -> None:
        with self._lock:
            self.mains_v = volts

    def reboot(self, cause: ResetCause = ResetCause.SOFTWARE) -> None:
        """The MCU restarts: relays off, per-port energy at 0, event sequence from 0, a BOOT event."""
        with self._lock:
            self._advance()
            for p in self._ports:
                p.coil = False
                p.energy_wh = p.measured_wh = 0.0
                p.latched = PortFlag(0)
                p.reported.clear()
            self._pending.clear()
            self._event_seq = 0
            self._status = StatusFlag(0)
            self._smoke_reported = False
            self._watchdog_s = 0
            self._watchdog_tripped = False
            self._last_request = None
            self._boot_real = time.monotonic()
            self._reset_cause = cause
            self._silent = False
            self._queue(BootEvent(0, cause))

    def inject_garbage(self, n: int = 32) -> bytes:
        """Send ``n`` random bytes now (line noise); returns them."""
        junk = bytes(self._rng.randrange(256) for _ in range(n))
        self.send(junk)
        return junk

    def duplicate_next(self, count: int = 1) -> None:
        """Send each of the next ``count`` frames twice."""
        with self._lock:
            self._duplicate_next += count

    # --------------------------------------------------------- inspection ----

    def port(self, number: int) -> PortStatus:
        """What the MCU would report for ``number`` right now."""
        with self._lock:
            self._advance()
            return self._measure(self._port(number))

    def relay_on(self, number: int) -> bool:
        with self._lock:
            return self._port(number).coil

    @property
    def smoke(self) -> bool:
        return self._smoke

    @property
    def silent(self) -> bool:
        return self._silent

    @property
    def watchdog_s(self) -> int:
        return self._watchdog_s

    @property
    def unacked_events(self) -> list[PileEvent]:
        with self._lock:
            return [p.event for p in self._pending]

    def total_power_w(self) -> float:
        with self._lock:
            self._advance()
            return self.standby_w + sum(self._measure(p).power_w for p in self._ports)

    def meter_values(self) -> Mapping[str, float]:
        """What a meter on the pile's feeder would see (keys as in sim.meters: voltage, current, ...)."""
        with self._lock:
            self._advance()
            power = self.standby_w + self.leak_w  # what really flows, whatever the ports measure
            current_a = (self.standby_w + self.leak_w) / self.mains_v if self.mains_v else 0.0
            for p in self._ports:
                w = self._true_power(p)
                power += w
                if w and self.mains_v:
                    current_a += w / (self.mains_v * (p.load.power_factor if p.load is not None else 1.0))
            apparent = self.mains_v * current_a
            return {
                "voltage": self.mains_v,
                "current": current_a,
                "active_power": power,
                "apparent_power": apparent,
                "power_factor": power / apparent if apparent else 1.0,
                "frequency": 50.0,
                "import_energy": self.input_energy_wh / 1000.0,
                "export_energy": 0.0,
            }

    def stop(self, timeout: float = 2.0) -> None:
        super().stop(timeout)
        if self._own_pair:
            self.pair.close()

    def __enter__(self) -> PileSim:
        self.start()
        return self
