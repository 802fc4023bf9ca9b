from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import serial

from edge.hal.config import SerialConfig
from edge.hal.serialport import SerialPort
from firmware_bridge.dlt645 import (
    Dlt645Client,
    Dlt645DataError,
    Dlt645Error,
    Dlt645ErrorResponse,
    Dlt645LinkError,
    Dlt645TimeoutError,
    ErrorFlag,
    encode_frame,
)
from firmware_bridge.errors import BridgeError
from firmware_bridge.pile import PileClient
from firmware_bridge.sim.clock import SimClock
from firmware_bridge.sim.dlt645_meter import Dlt645MeterSim
from firmware_bridge.sim.pile_sim import PileSim
from firmware_bridge.sim.pty import PtyPair, PtyResponder

ADDRESS = "000000001234"
VALUES = {"voltage": 220.1, "current": 1.234, "active_power": 271.6, "import_energy": 1234.56}


@pytest.fixture
def meter() -> Iterator[Dlt645MeterSim]:
    with Dlt645MeterSim(ADDRESS, dict(VALUES)) as sim:
        yield sim


@pytest.fixture
def client(meter: Dlt645MeterSim) -> Iterator[Dlt645Client]:
    with Dlt645Client(meter.device_path, ADDRESS, timeout=0.2, retries=2) as c:
        yield c


def test_reads_each_quantity_in_its_unit(client: Dlt645Client) -> None:
    assert client.read_energy() == pytest.approx(1234.56)
    assert client.read_voltage() == pytest.approx(220.1)
    assert client.read_current() == pytest.approx(1.234)
    assert client.read_power() == pytest.approx(271.6)  # the meter sends 00.2716 kW
    assert client.read("frequency") == 50
    assert client.stats.requests == 5 and client.stats.retries == 0


def test_negative_current_and_power(meter: Dlt645MeterSim, client: Dlt645Client) -> None:
    meter.state.set(current=-2.5, active_power=-550.0)
    assert client.read_current() == pytest.approx(-2.5)
    assert client.read_power() == pytest.approx(-550.0)


def test_read_address_by_wildcard(client: Dlt645Client) -> None:
    assert client.read_address() == ADDRESS
    assert client.address == ADDRESS


def test_error_frame_is_a_clear_error(meter: Dlt645MeterSim, client: Dlt645Client) -> None:
    meter.respond_error(ErrorFlag.NO_DATA | ErrorFlag.OTHER)
    with pytest.raises(Dlt645ErrorResponse, match=r"meter 000000001234 refused read 00010000.*other, no_data") as ei:
        client.read_energy()
    assert ei.value.flags == ErrorFlag.NO_DATA | ErrorFlag.OTHER
    assert ei.value.port == f"'{meter.device_path}'"
    assert client.stats.error_responses == 1 and client.stats.retries == 0  # an answer: not retried
    assert client.read_energy() == pytest.approx(1234.56)


def test_unknown_data_identifier_gets_no_data(client: Dlt645Client) -> None:
    from firmware_bridge.dlt645.identifiers import DataId

    with pytest.raises(Dlt645ErrorResponse, match="no_data"):
        client.read(DataId(0x04000401, "meter_number", 6, 0, False, "", "通信地址"))


def test_checksum_errors_and_garbage_are_counted_and_retried(meter: Dlt645MeterSim, client: Dlt645Client) -> None:
    meter.corrupt_next(1)
    assert client.read_voltage() == pytest.approx(220.1)
    assert client.stats.checksum_errors == 1 and client.stats.retries == 1
    meter.garbage_before_next(40)
    assert client.read_voltage() == pytest.approx(220.1)  # resynchronised behind the garbage, no retry
    assert client.stats.retries == 1 and client.stats.garbage_bytes >= 40


def test_garbage_between_answers_is_skipped(meter: Dlt645MeterSim, client: Dlt645Client) -> None:
    meter.inject_garbage(64)
    time.sleep(0.05)
    assert client.read_energy() == pytest.approx(1234.56)


def test_silent_meter_times_out_after_retries(meter: Dlt645MeterSim, client: Dlt645Client) -> None:
    meter.go_silent()
    t0 = time.monotonic()
    with pytest.raises(Dlt645TimeoutError, match=r"no valid answer to read 02010100 .* after 3 tries of 0.2 s"):
        client.read_voltage()
    assert 0.55 < time.monotonic() - t0 < 1.5
    meter.resume()
    meter.drop_next(2)
    assert client.read_voltage() == pytest.approx(220.1)
    assert client.stats.timeouts == 5


def test_other_meters_answers_are_ignored(meter: Dlt645MeterSim) -> None:
    other = Dlt645Client(meter.device_path, "000000009999", timeout=0.1, retries=0)
    with other, pytest.raises(Dlt645TimeoutError, match="meter 000000009999"):
        other.read_energy()


def test_counter_reset_and_going_backwards_are_reported_as_is(meter: Dlt645MeterSim, client: Dlt645Client) -> None:
    meter.step_back(34.56)
    assert client.read_energy() == pytest.approx(1200.0)
    meter.reset_counter()
    assert client.read_energy() == 0.0


def test_malformed_bcd_from_a_meter_is_a_data_error() -> None:
    def bad_meter(data: bytes) -> bytes:
        # DI 02010100 answered with voltage bytes 0x1A 0x22: not BCD
        payload = bytes.fromhex("00 01 01 02") + bytes.fromhex("1A 22")
        return encode_frame(ADDRESS, 0x91, payload)

    with (
        PtyPair() as pair,
        PtyResponder(pair, bad_meter),
        Dlt645Client(pair.device_path, ADDRESS, timeout=0.3) as c,
        pytest.raises(Dlt645DataError, match="malformed: invalid BCD byte 0x1A"),
    ):
        c.read_voltage()


def test_energy_integrates_the_piles_power() -> None:
    clock = SimClock(speed=0)
    with PileSim(clock=clock) as pile, Dlt645MeterSim(ADDRESS, pile.meter_values) as meter:
        pile.plug(1, "overload")
        with Dlt645Client(meter.device_path, ADDRESS, timeout=0.3) as c, PileClient(pile.device_path) as mcu:
            e0 = c.read_energy()
            assert c.read_power() == pytest.approx(3.0, abs=0.1)  # standby only: relay still off
            assert mcu.set_relay(1, True).actual
            assert c.read_power() == pytest.approx(803.0, abs=0.1)
            clock.advance(1800)
            assert c.read_energy() - e0 == pytest.approx(0.40, abs=0.011)  # half an hour at 803 W, 0.01 kWh steps


def test_runs_through_the_hal_serial_port(meter: Dlt645MeterSim) -> None:
    port = SerialPort("meter-bus", SerialConfig(url=meter.device_path, baudrate=2400, parity="E", timeout_s=0.05))
    with Dlt645Client(port, ADDRESS, timeout=0.3) as c:
        assert c.read_voltage() == pytest.approx(220.1)
        assert c.port == f"'meter-bus' ({meter.device_path})"
    port.close()


def test_runs_on_a_pyserial_object(meter: Dlt645MeterSim) -> None:
    ser = serial.Serial(meter.device_path, 2400, parity="E", timeout=0.05)
    with Dlt645Client(ser, ADDRESS, timeout=0.3) as c:
        assert c.read_energy() == pytest.approx(1234.56)
    assert ser.is_open  # a caller's port is not closed by the client
    ser.close()


def test_missing_port_is_a_link_error() -> None:
    c = Dlt645Client("/dev/does-not-exist", ADDRESS, timeout=0.1)
    with c, pytest.raises(Dlt645LinkError, match=r"/dev/does-not-exist.*open failed") as ei:
        c.read_energy()
    assert isinstance(ei.value, Dlt645Error) and isinstance(ei.value, BridgeError)
