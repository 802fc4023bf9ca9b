"""MeterClient (pymodbus RTU client) against ModbusMeterSim (pymodbus's serial server) over real ptys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from edge.hal.config import SerialConfig
from edge.hal.serialport import SerialPort
from firmware_bridge.errors import BridgeError
from firmware_bridge.modbus import (
    MeterAbsentError,
    MeterClient,
    MeterCrcError,
    MeterExceptionResponse,
    MeterLinkError,
    MeterTimeoutError,
)
from firmware_bridge.pile import PileClient
from firmware_bridge.sim.clock import SimClock
from firmware_bridge.sim.modbus_meter import ModbusMeterSim
from firmware_bridge.sim.pile_sim import PileSim

VALUES = {"voltage": 230.1, "current": 5.02, "active_power": 1155.0, "power_factor": 0.98, "import_energy": 1234.56}


@pytest.fixture
def ddsu() -> Iterator[ModbusMeterSim]:
    with ModbusMeterSim("ddsu666", dict(VALUES)) as sim:
        yield sim


@pytest.fixture
def client(ddsu: ModbusMeterSim) -> Iterator[MeterClient]:
    with MeterClient(ddsu.device_path, "ddsu666", timeout=0.25, retries=2) as c:
        yield c


def test_reads_with_scaling_applied(ddsu: ModbusMeterSim, client: MeterClient) -> None:
    r = client.read("voltage", "current", "active_power", "import_energy", "frequency")
    assert (r["voltage"].value, r["voltage"].unit) == (230.1, "V")
    assert (r["current"].value, r["current"].unit) == (5.02, "A")
    assert (r["active_power"].value, r["active_power"].unit) == (1155.0, "W")  # register holds 1.155 kW
    assert r["active_power"].raw == pytest.approx(1.155)
    assert (r["import_energy"].value, r["import_energy"].unit) == (1234.56, "kWh")
    assert r["frequency"].value == 50.0
    assert list(r) == ["voltage", "current", "active_power", "import_energy", "frequency"]
    assert client.stats.reads == 3  # 0x2000-0x2005 in one request, then 0x200E and 0x4000


def test_read_all_and_one(client: MeterClient) -> None:
    assert set(client.read()) == set(client.map.quantities)
    assert client.read_value("power_factor") == pytest.approx(0.98)


def test_three_phase_map_with_scaled_floats() -> None:
    with ModbusMeterSim("dtsu666", dict(VALUES)) as sim, MeterClient(sim.device_path, "dtsu666", timeout=0.2) as c:
        r = c.read("voltage_a", "current_b", "active_power", "frequency", "import_energy")
        assert r["voltage_a"].raw == 2301.0 and r["voltage_a"].value == 230.1  # 0.1 V units
        assert r["current_b"].raw == 5020.0 and r["current_b"].value == 5.02  # mA
        assert r["active_power"].raw == 11550.0 and r["active_power"].value == 1155.0  # 0.1 W
        assert r["frequency"].raw == 5000.0 and r["import_energy"].value == 1234.56


def test_another_meter_is_a_map_not_code(tmp_path: Path) -> None:
    path = tmp_path / "acme_dm1.yaml"
    path.write_text(
        """
name: ACME-DM1
vendor: ACME
description: made-up meter with integer registers, little word order and a readable gap
device_id: 17
max_gap: 2
defaults: {function: 4}
quantities:
  voltage:       {address: 0x0000, datatype: uint16, scale: 0.01, unit: V}
  current:       {address: 0x0001, datatype: int32, word_order: little, scale: 0.001, unit: A}
  active_power:  {address: 0x0005, datatype: int32, word_order: little, scale: 0.1, unit: W}
  import_energy: {address: 0x0100, datatype: uint32, scale: 0.01, unit: kWh, function: 3}
  frequency:     {address: 0x0102, datatype: int16, scale: 0.01, unit: Hz, function: 3}
""",
        encoding="utf-8",
    )
    values = {"voltage": 229.87, "current": -3.25, "active_power": -747.3, "import_energy": 98765.43}
    with ModbusMeterSim(path, values) as sim, MeterClient(sim.device_path, path, timeout=0.2) as c:
        assert c.device_id == 17
        r = c.read()
        assert {k: v.value for k, v in r.items()} == {**values, "frequency": 50.0}
        assert r["current"].raw == -3250
        assert c.stats.reads == 2  # 0x0000-0x0006 across the gap, and the holding block
        assert sim.requests_seen == 2


def test_exception_response_is_a_clear_error(ddsu: ModbusMeterSim, client: MeterClient) -> None:
    ddsu.fail_next(4, count=1)  # device failure: the answer, not retried
    with pytest.raises(
        MeterExceptionResponse, match=r"DDSU666 id 1, 2 registers at 0x2000 .*device failure \(code 4\)"
    ) as ei:
        client.read("voltage")
    assert ei.value.code == 4 and ei.value.code_name == "device failure"
    assert client.stats.transient == 0 and client.stats.exception_codes == {4: 1}
    assert client.read_value("voltage") == 230.1


@pytest.mark.parametrize("code", [6, 5, 10, 11])
def test_busy_and_other_transient_answers_are_retried_with_backoff_and_counted(
        ddsu: ModbusMeterSim, code: int) -> None:
    with MeterClient(ddsu.device_path, "ddsu666", timeout=0.25, busy_retries=3, busy_backoff_s=0.02) as c:
        ddsu.fail_next(code, count=3)
        t0 = time.monotonic()
        assert c.read_value("voltage") == 230.1  # the fourth try is answered
        assert time.monotonic() - t0 >= 0.02 + 0.04 + 0.08  # backed off, doubling
        assert c.stats.transient == 3 and c.stats.exception_codes == {code: 3} and c.stats.exceptions == 3
        ddsu.fail_next(code, count=4)  # busy on every try: now it is an error, named
        with pytest.raises(MeterExceptionResponse, match=rf"code {code}\)"):
            c.read("voltage")
        assert c.stats.transient == 6 and c.stats.exception_codes == {code: 7}


def test_a_meter_busy_on_every_other_request_reads_every_time(ddsu: ModbusMeterSim) -> None:
    ddsu.busy_every(2)
    with MeterClient(ddsu.device_path, "ddsu666", timeout=0.25, busy_backoff_s=0.01) as c:
        for _ in range(5):
            r = c.read("import_energy", "active_power", "voltage")  # two requests each time
            assert r["voltage"].value == 230.1 and r["import_energy"].value == 1234.56
        assert c.stats.transient >= 4 and set(c.stats.exception_codes) == {6}


def test_a_missing_register_names_the_quantity(ddsu: ModbusMeterSim) -> None:
    from firmware_bridge.modbus import load_map, parse_map

    data = load_map("ddsu666").model_dump()
    data["quantities"]["apparent_power"] = {"address": 0x2008, "function": 4, "datatype": "float32", "unit": "VA"}
    wider = parse_map(data)  # our map claims a register the meter does not have
    with (
        MeterClient(ddsu.device_path, wider, timeout=0.15) as c,
        pytest.raises(MeterExceptionResponse, match=r"0x2008 \(function 4: apparent_power\).*illegal data address"),
    ):
        c.read("voltage", "current", "active_power", "reactive_power", "apparent_power")


def test_absent_device(ddsu: ModbusMeterSim) -> None:
    with MeterClient(ddsu.device_path, "ddsu666", device_id=7, timeout=0.1, retries=1) as c:
        t0 = time.monotonic()
        with pytest.raises(MeterAbsentError, match=r"id 7, .*no answer at all after 2 tries of 0.1 s") as ei:
            c.read("voltage")
        assert time.monotonic() - t0 < 1.0
    assert isinstance(ei.value, MeterTimeoutError) and isinstance(ei.value, BridgeError)
    assert ddsu.requests_ignored == 2  # RS-485: a device keeps quiet about frames for other ids


def test_crc_errors_are_counted_and_retried(ddsu: ModbusMeterSim, client: MeterClient) -> None:
    ddsu.corrupt_next(1)
    assert client.read_value("voltage") == 230.1
    assert client.stats.crc_errors == 1 and client.stats.retries == 1
    ddsu.corrupt_next(3)
    with pytest.raises(MeterCrcError, match=r"3 of 3 tries of 0\.25 s came back with a CRC error"):
        client.read("voltage")
    assert client.stats.crc_errors == 4


def test_garbage_before_an_answer_costs_a_retry_at_most(ddsu: ModbusMeterSim, client: MeterClient) -> None:
    ddsu.garbage_before_next(12)
    assert client.read_value("current") == 5.02
    assert client.stats.retries <= 1


def test_silent_meter_and_dropped_requests(ddsu: ModbusMeterSim, client: MeterClient) -> None:
    ddsu.drop_next(2)
    assert client.read_value("voltage") == 230.1
    assert client.stats.timeouts == 2 and client.stats.retries == 2
    ddsu.go_silent()
    with pytest.raises(MeterAbsentError):
        client.read("voltage")
    ddsu.resume()
    assert client.read_value("voltage") == 230.1


def test_counter_reset_and_backwards(ddsu: ModbusMeterSim, client: MeterClient) -> None:
    ddsu.step_back(234.56)
    assert client.read_value("import_energy") == 1000.0
    ddsu.reset_counter()
    assert client.read_value("import_energy") == 0.0


def test_meter_on_the_pile_feeder() -> None:
    clock = SimClock(speed=0)
    with (
        PileSim(clock=clock) as pile,
        ModbusMeterSim("ddsu666", pile.meter_values) as sim,
        PileClient(pile.device_path) as mcu,
        MeterClient(sim.device_path, "ddsu666", timeout=0.2) as meter,
    ):
        pile.plug(1, "overload")
        mcu.set_relay(1, True)
        clock.advance(1800)
        r = meter.read("voltage", "active_power", "import_energy")
        assert r["voltage"].value == pytest.approx(221.0)
        assert r["active_power"].value == pytest.approx(803.0, abs=0.1)
        assert r["import_energy"].value == pytest.approx(0.4015, rel=1e-3)


def test_runs_through_the_hal_serial_port(ddsu: ModbusMeterSim) -> None:
    port = SerialPort("meter-485", SerialConfig(url=ddsu.device_path, timeout_s=0.05))
    with MeterClient(port, "ddsu666", timeout=0.2) as c:
        assert c.read_value("voltage") == 230.1
        assert c.port == f"'meter-485' ({ddsu.device_path})"
    port.close()


def test_runs_on_a_pyserial_object(ddsu: ModbusMeterSim) -> None:
    ser = serial.Serial(ddsu.device_path, 9600, timeout=0.02)
    with MeterClient(ser, "ddsu666", timeout=0.2) as c:
        assert c.read_value("current") == 5.02
    assert ser.is_open
    ser.close()


def test_missing_port_is_a_link_error() -> None:
    c = MeterClient("/dev/no-such-adapter", "ddsu666")
    with c, pytest.raises(MeterLinkError, match=r"'/dev/no-such-adapter': DDSU666 id 1, .*open failed"):
        c.read("voltage")
