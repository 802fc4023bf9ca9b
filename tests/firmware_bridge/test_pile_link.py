"""PileClient against PileSim over a real pty: the protocol's behaviour, byte for byte through the line."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import serial

from edge.hal.config import SerialConfig
from edge.hal.serialport import SerialPort
from firmware_bridge.errors import BridgeError
from firmware_bridge.pile import (
    BootEvent,
    ErrorCode,
    Fault,
    FaultEvent,
    PileClient,
    PileCommandError,
    PileLinkError,
    PlugEvent,
    PortFlag,
    ResetCause,
    SmokeEvent,
    StatusFlag,
    WatchdogEvent,
    encode_frame,
)
from firmware_bridge.pile.messages import MsgType
from firmware_bridge.sim.pile_sim import PileSim


@pytest.fixture
def sim() -> Iterator[PileSim]:
    with PileSim(ports=10, speed=1.0) as s:
        yield s


@pytest.fixture
def client(sim: PileSim) -> Iterator[PileClient]:
    with PileClient(sim.device_path, timeout=0.3, retries=2) as c:
        yield c


def _event(client: PileClient, kind: type, timeout: float = 1.0) -> object:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        event = client.next_event(remaining)
        if isinstance(event, kind):
            return event
    raise AssertionError(f"no {kind.__name__} within {timeout} s")


def test_hello(client: PileClient) -> None:
    info = client.hello()
    assert info.protocol_version == 1 and info.port_count == 10 and info.firmware_version == "1.0.0"
    assert info.reset_cause == ResetCause.POWER_ON


def test_relay_on_shows_load_power_in_one_poll(sim: PileSim, client: PileClient) -> None:
    sim.plug(3, "ebike_48v")
    assert client.read_ports().port(3).power_w == 0.0  # plugged, relay off
    ack = client.set_relay(3, True)
    assert ack.port == 3 and ack.requested and ack.actual and PortFlag.OUTPUT_LIVE in ack.flags
    snap = client.read_ports()
    assert len(snap.ports) == 10 and not snap.smoke
    p3 = snap.port(3)
    assert p3.plugged and p3.relay_on and p3.output_live
    assert 100 <= p3.power_w <= 130  # CC stage: 1.8 A into a ~50 V pack through an 85 % charger
    assert p3.voltage_v == pytest.approx(221.0)
    assert p3.current_ma == pytest.approx(p3.power_w / (221.0 * 0.62) * 1000, abs=2)
    assert all(p.power_w == 0 for p in snap.ports if p.port != 3)
    assert not client.set_relay(3, False).actual
    assert client.read_ports().port(3).power_w == 0.0


def test_loads_draw_what_they_should(sim: PileSim, client: PileClient) -> None:
    for port, load in [(1, "phone"), (2, "overload"), (3, "ebike_72v_modified"), (4, "idle_charger")]:
        sim.plug(port, load)
        client.set_relay(port, True)
    snap = client.read_ports()
    assert snap.port(1).power_w == pytest.approx(5.0)
    assert snap.port(2).power_w > 600  # over the per-port limit: the charger app must cut it
    assert 220 <= snap.port(3).power_w <= 300
    assert snap.port(4).power_w == pytest.approx(0.4)
    assert snap.total_power_w == pytest.approx(sum(p.power_w for p in snap.ports))


def test_plug_and_smoke_events_arrive_unsolicited_and_are_acked(sim: PileSim, client: PileClient) -> None:
    sim.plug(5, "phone")
    assert _event(client, PlugEvent) == PlugEvent(0, 5, True)
    sim.set_smoke(True)
    smoke = _event(client, SmokeEvent)
    assert isinstance(smoke, SmokeEvent) and smoke.active
    deadline = time.monotonic() + 1
    while sim.unacked_events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.unacked_events == [] and smoke in sim.acked_events
    assert sim.events_sent == 2  # acked at once: never resent
    assert client.read_smoke() and StatusFlag.SMOKE in client.read_ports().status
    sim.unplug(5)
    assert _event(client, PlugEvent) == PlugEvent(2, 5, False)


def test_on_event_callback(sim: PileSim) -> None:
    got: list[object] = []
    with PileClient(sim.device_path, on_event=got.append):
        sim.set_smoke(True)
        deadline = time.monotonic() + 1
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
    assert got == [SmokeEvent(0, True)]


def test_retransmitted_event_is_delivered_once(sim: PileSim, client: PileClient) -> None:
    sim.duplicate_next(1)  # the event frame goes out twice, as when the host's first ACK is lost
    sim.set_smoke(True)
    _event(client, SmokeEvent)
    assert client.next_event(0.3) is None
    assert client.stats.duplicate_events == 1 and client.stats.events == 1


def test_unacked_events_are_resent_then_dropped() -> None:
    with PileSim(event_retry_s=0.05, event_max_sends=3) as sim:
        ser = serial.Serial(sim.device_path, 115200, timeout=0.05)  # a host that never acknowledges
        sim.set_smoke(True)
        deadline = time.monotonic() + 3
        while not sim.lost_events and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (sim.events_sent, sim.lost_events) == (3, [SmokeEvent(0, True)])
        assert ser.read(100).count(encode_frame(0, MsgType.EVT_SMOKE, b"\x01")) == 3
        ser.close()
        with PileClient(sim.device_path) as c:
            assert StatusFlag.EVENTS_LOST in c.heartbeat().status
            c.hello()  # clears the sticky flag
            assert StatusFlag.EVENTS_LOST not in c.heartbeat().status


def test_crc_errors_are_counted_and_retried(sim: PileSim, client: PileClient) -> None:
    sim.plug(1, "phone")
    client.set_relay(1, True)
    _event(client, PlugEvent)  # nothing else pending from the MCU: the next two frames are answers
    sim.corrupt_next(2)
    assert client.read_ports().port(1).power_w == pytest.approx(5.0)
    assert client.stats.crc_errors == 2 and client.stats.retries == 2
    assert sim.duplicate_requests == 2  # the retries were answered from the cache, not executed again


def test_request_crc_error_at_the_mcu_is_retried(sim: PileSim, client: PileClient) -> None:
    sim.drop_next(1)
    assert client.read_smoke() is False
    assert client.stats.retries == 1 and client.stats.timeouts == 1


def test_duplicate_response_is_dropped(sim: PileSim, client: PileClient) -> None:
    sim.duplicate_next(1)
    client.hello()
    assert client.read_smoke() is False  # the stale copy of HELLO_OK is not taken for this answer
    assert client.stats.stale_responses == 1


def test_garbage_on_the_line_is_skipped_and_counted(sim: PileSim, client: PileClient) -> None:
    junk = sim.inject_garbage(200)
    time.sleep(0.05)
    assert client.hello().port_count == 10
    assert client.stats.garbage_bytes >= len(junk) - 30  # bytes inside a chance "A5 5A" may go as CRC errors
    assert client.stats.retries == 0


def test_garbage_glued_to_an_answer_is_skipped_and_counted(sim: PileSim, client: PileClient) -> None:
    before = client.stats.garbage_bytes
    sim.garbage_before_next(40)
    assert client.hello().port_count == 10
    assert client.stats.garbage_bytes - before >= 10


def test_silent_mcu_raises_pile_link_error_within_the_timeout(sim: PileSim, client: PileClient) -> None:
    client.hello()
    sim.go_silent()
    t0 = time.monotonic()
    with pytest.raises(PileLinkError, match=r"did not answer SET_RELAY port 2 on \(seq \d+\) after 3 tries of 0.3 s"):
        client.set_relay(2, True)
    elapsed = time.monotonic() - t0
    assert 0.85 <= elapsed < 1.5  # 3 × 0.3 s, plus scheduling slack on a busy machine
    sim.resume()
    assert client.read_smoke() is False


def test_refusals_are_command_errors(client: PileClient) -> None:
    with pytest.raises(PileCommandError, match="refused SET_RELAY port 11 on: bad port") as ei:
        client.set_relay(11, True)
    assert ei.value.code == ErrorCode.BAD_PORT and isinstance(ei.value, BridgeError)


def test_relay_welded(sim: PileSim, client: PileClient) -> None:
    sim.plug(2, "ebike_48v")
    client.set_relay(2, True)
    sim.weld_relay(2)
    ack = client.set_relay(2, False)
    assert not ack.requested and ack.actual  # still live: current while off
    assert _event(client, FaultEvent) == FaultEvent(1, 2, Fault.RELAY_WELDED, True)
    p2 = client.read_ports().port(2)
    assert p2.faults == {Fault.RELAY_WELDED} and p2.power_w > 100 and not p2.relay_on
    assert client.clear_fault(2).flags & PortFlag.RELAY_WELDED  # still welded: stays latched
    sim.repair(2)
    assert not client.clear_fault(2).flags & PortFlag.RELAY_WELDED
    assert _event(client, FaultEvent) == FaultEvent(2, 2, Fault.RELAY_WELDED, False)


def test_fuse_blown(sim: PileSim, client: PileClient) -> None:
    sim.plug(4, "ebike_48v")
    sim.blow_fuse(4)
    ack = client.set_relay(4, True)
    assert ack.requested and not ack.actual and PortFlag.FUSE_BLOWN in ack.flags  # no current while on
    assert _event(client, FaultEvent) == FaultEvent(1, 4, Fault.FUSE_BLOWN, True)
    p4 = client.read_ports().port(4)
    assert p4.power_w == 0 and p4.voltage_v == 0 and p4.relay_on


@pytest.mark.parametrize(
    ("mode", "reading", "flagged"), [("open", None, True), ("max", 255.0, True), ("zero", 0.0, False)]
)
def test_failing_temperature_sensor(sim: PileSim, client: PileClient, mode: str, reading: float | None,
                                    flagged: bool) -> None:  # fmt: skip
    assert client.read_ports().port(6).temperature_c == pytest.approx(25.0)
    sim.fail_temp_sensor(6, mode)  # type: ignore[arg-type]
    p6 = client.read_ports().port(6)
    assert p6.temperature_c == reading
    assert (Fault.TEMP_SENSOR in p6.faults) is flagged
    if flagged:
        assert _event(client, FaultEvent) == FaultEvent(0, 6, Fault.TEMP_SENSOR, True)
        sim.fix_temp_sensor(6)
        assert _event(client, FaultEvent) == FaultEvent(1, 6, Fault.TEMP_SENSOR, False)


def test_forced_temperature(sim: PileSim, client: PileClient) -> None:
    sim.set_temperature(7, 95.0)
    assert client.read_ports().port(7).temperature_c == 95.0  # over 90 °C: the app's rule, not the MCU's
    sim.set_temperature(7, None)
    assert client.read_ports().port(7).temperature_c == pytest.approx(25.0)


def test_host_watchdog_drops_every_relay(sim: PileSim, client: PileClient) -> None:
    sim.plug(1, "phone")
    client.set_relay(1, True)
    client.heartbeat(watchdog_s=1)
    assert sim.watchdog_s == 1 and sim.relay_on(1)
    event = _event(client, WatchdogEvent, timeout=2.5)  # the ACK of this event is the next host frame
    assert event == WatchdogEvent(1, 1) and not sim.relay_on(1)
    assert StatusFlag.WATCHDOG_TRIPPED in client.heartbeat(0).status


def test_mcu_reboot(sim: PileSim, client: PileClient) -> None:
    sim.set_smoke(True)
    _event(client, SmokeEvent)
    client.set_relay(1, True)
    sim.reboot(ResetCause.BROWN_OUT)
    assert _event(client, BootEvent) == BootEvent(0, ResetCause.BROWN_OUT)
    assert _event(client, SmokeEvent) == SmokeEvent(1, True)  # seq 1 again: delivered, memory was cleared
    assert not client.read_ports().port(1).relay_on
    assert client.hello().reset_cause == ResetCause.BROWN_OUT


def test_thread_safe_requests(sim: PileSim) -> None:
    client = PileClient(sim.device_path, timeout=1.0)
    for n in range(1, 11):
        sim.plug(n, "phone")
    errors: list[BaseException] = []

    def worker(port: int) -> None:
        try:
            for i in range(15):
                assert client.set_relay(port, i % 2 == 0).port == port
                assert len(client.read_ports().ports) == 10
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    client.close()
    assert errors == [] and client.stats.retries == 0 and client.stats.requests == 300


def test_runs_through_the_hal_serial_port(sim: PileSim) -> None:
    port = SerialPort("pile-mcu", SerialConfig(url=sim.device_path, baudrate=115200, timeout_s=0.05))
    with PileClient(port, timeout=0.3) as c:
        assert c.hello().port_count == 10
        sim.plug(1, "phone")
        assert _event(c, PlugEvent) == PlugEvent(0, 1, True)
        assert c.port == f"'pile-mcu' ({sim.device_path})"
    port.close()


def test_vanished_port_is_a_link_error(sim: PileSim) -> None:
    with PileClient(sim.device_path, timeout=0.1, retries=1) as c:
        c.hello()
        sim.stop()  # closes the pty: the USB adapter was pulled
        with pytest.raises(PileLinkError, match="did not answer HELLO"):
            c.hello()
        assert c.stats.link_errors >= 1
