"""Safety cut-offs and faults through the simulators: overload, pile limit, heat, smoke, meter and MCU trouble."""

from __future__ import annotations

from typing import Any

from linli.contract.charger import Fault, Settlement
from linli.testing import wait_for


def faults(b: Any, kind: str | None = None) -> list[Fault]:
    out = [Fault.model_validate(e.data) for e in b.events("charger.fault")]
    return [f for f in out if kind is None or f.fault == kind]


def settlement(b: Any, order_id: str) -> Settlement:
    return Settlement.model_validate(b.recorder.wait(
        lambda: next((e.data for e in b.events("charger.settlement") if e.data["order_id"] == order_id), None),
        what=f"settlement of {order_id}"))


def start(b: Any, port: int, load: str, order: str, on: bool = True) -> None:
    b.pile.plug(port, load)
    b.settle()
    res = b.command("start", port=port, order_id=order)
    assert res.ok and res.result["state"] == "charging", res
    if on:
        assert b.pile.relay_on(port)


def test_overload_on_one_port_cuts_only_that_port(make_bench: Any) -> None:
    b = make_bench()
    start(b, 1, "phone", "ok-1")
    start(b, 2, "overload", "hot-2", on=False)
    b.advance(10, step=5)
    s = settlement(b, "hot-2")
    assert s.stop_reason == "overload" and not b.pile.relay_on(2)
    f = faults(b, "overload")[0]
    assert f.port == 2 and f.value is not None and f.value > 600
    assert next(e for e in b.events("charger.fault") if e.data["fault"] == "overload").severity == "alarm"
    assert b.pile.relay_on(1) and b.ctl.ports[0].session is not None  # the phone charges on


def test_pile_limit_stops_the_newest_sessions(make_bench: Any) -> None:
    b = make_bench({"limits": {"pile_max_w": 300, "port_max_w": 300}})
    start(b, 1, "ebike_48v", "p-1")
    b.advance(60, step=30)
    start(b, 2, "ebike_48v", "p-2")
    b.advance(60, step=30)
    start(b, 3, "ebike_48v", "p-3", on=False)  # three bikes at ≈106 W: over 300 W
    b.advance(30, step=10)
    assert settlement(b, "p-3").stop_reason == "pile_overload"
    assert b.pile.relay_on(1) and b.pile.relay_on(2) and not b.pile.relay_on(3)
    assert faults(b, "pile_overload")


def test_over_temperature_and_a_failed_sensor(make_bench: Any) -> None:
    b = make_bench()
    start(b, 4, "ebike_48v", "t-4")
    b.pile.set_temperature(4, 93.0)
    b.settle()
    assert settlement(b, "t-4").stop_reason == "over_temperature" and not b.pile.relay_on(4)
    assert faults(b, "over_temperature")[0].value == 93.0
    start(b, 5, "ebike_48v", "t-5")
    b.pile.fail_temp_sensor(5, "open")  # no reading: no over-temperature protection, so no charging
    b.settle(3)
    assert settlement(b, "t-5").stop_reason == "sensor_fault" and not b.pile.relay_on(5)
    assert faults(b, "sensor_fault")[0].port == 5
    refused = b.command("start", port=5, order_id="t-5b")
    assert not refused.ok and "sensor_fault" in (refused.error or "")
    # a sensor stuck at a plausible 0 °C: the MCU cannot tell, the agent judges it after half an hour of power
    start(b, 6, "ebike_72v_modified", "t-6")
    b.pile.fail_temp_sensor(6, "zero")
    b.advance(1200, step=600)
    assert b.pile.relay_on(6)
    b.advance(1200, step=600)
    assert settlement(b, "t-6").stop_reason == "sensor_fault" and not b.pile.relay_on(6)
    assert any(f.port == 6 and "stuck" in f.detail for f in faults(b, "sensor_fault"))


def test_smoke_switches_every_port_off_and_blocks_starts(make_bench: Any) -> None:
    b = make_bench()
    for n in (1, 2, 3):
        start(b, n, "ebike_48v", f"s-{n}")
    b.pile.set_smoke(True)
    wait_for(lambda: not any(b.pile.relay_on(n) for n in range(1, 11)), 5, what="every relay off")
    assert {settlement(b, f"s-{n}").stop_reason for n in (1, 2, 3)} == {"smoke"}
    assert faults(b, "smoke")[0].active and b.agent.app.state() == "smoke"
    res = b.command("start", port=4, order_id="s-4")
    assert not res.ok and "smoke" in (res.error or "")
    b.pile.set_smoke(False)
    b.settle(3)
    assert not faults(b, "smoke")[-1].active or b.recorder.wait(lambda: not faults(b, "smoke")[-1].active)
    b.pile.plug(4, "phone")
    assert b.command("start", port=4, order_id="s-4b").ok


def test_meter_line_faults_are_survived_and_a_lost_meter_is_an_alarm(make_bench: Any) -> None:
    b = make_bench()
    start(b, 1, "ebike_48v", "m-1")
    meter = b.world.meter
    meter.corrupt_next(2)
    b.advance(2, step=1)
    meter.garbage_before_next(24)
    b.advance(2, step=1)
    meter.drop_next(1)
    b.advance(2, step=1)
    meter.respond_error(count=1)
    b.advance(4, step=1)
    assert not faults(b, "meter_lost") and b.pile.relay_on(1)
    stats = b.ctl.meter.client.stats
    assert stats.checksum_errors >= 1 and stats.garbage_bytes >= 24 and stats.timeouts >= 1
    # the energy register is reset (meter replaced) and later jumps back: reported, total never goes down
    b.advance(600, step=300)
    before = b.ctl.meter.total_kwh
    meter.reset_counter()
    b.advance(300, step=150)
    assert faults(b, "meter_counter_reset") and b.ctl.meter.total_kwh >= before
    b.advance(3600, step=1200)
    meter.step_back(0.05)
    b.advance(120, step=60)
    assert faults(b, "meter_counter_backwards")
    assert b.ctl.meter.total_kwh >= before
    # silence: after lost_after_s an alarm; the port charges on (billed and protected from the MCU)
    meter.go_silent()
    b.advance(25, step=25)
    assert faults(b, "meter_lost")[0].active and b.pile.relay_on(1) and not b.events("charger.settlement")
    meter.resume()
    b.advance(3, step=1)
    wait_for(lambda: not faults(b, "meter_lost")[-1].active, 5, what="meter back")


def test_silent_mcu_ends_sessions_and_its_watchdog_drops_relays(make_bench: Any) -> None:
    b = make_bench({"mcu_watchdog_s": 2})
    start(b, 2, "ebike_48v", "mcu-2")
    b.advance(120, step=60)
    b.pile.go_silent()
    b.advance(6, step=6)
    s = settlement(b, "mcu-2")
    assert s.stop_reason == "mcu_lost" and s.energy_wh > 0
    assert faults(b, "mcu_lost")[0].active and b.agent.app.state() == "fault"
    b.pile.resume()  # back (its host watchdog had dropped the relays); the agent says hello again
    wait_for(lambda: b.ctl.mcu_ok, 10, what="MCU back")
    wait_for(lambda: not faults(b, "mcu_lost")[-1].active, 5, what="mcu_lost cleared")
    assert not b.pile.relay_on(2)


def test_welded_relay_and_blown_fuse_raise_alarms_and_take_the_port_out(make_bench: Any) -> None:
    b = make_bench()
    start(b, 7, "ebike_48v", "f-7")
    b.pile.blow_fuse(7)
    b.settle(3)
    assert settlement(b, "f-7").stop_reason == "port_fault"
    assert faults(b, "fuse_blown")[0].port == 7
    assert b.agent.app.pile.ports[6].state == "fault"
    b.pile.weld_relay(8)
    b.settle(3)
    wait_for(lambda: faults(b, "relay_welded"), 5, what="welded alarm")
    refused = b.command("start", port=8, order_id="f-8")
    assert not refused.ok and "relay_welded" in (refused.error or "")
    b.pile.repair(7)
    assert b.command("clear_fault", port=7).ok
    b.settle(3)
    assert "fuse_blown" not in b.ctl.ports[6].faults


def test_modbus_meter_faults_through_the_register_map(make_bench: Any) -> None:
    b = make_bench({"meter": {"protocol": "modbus", "map": "ddsu666", "timeout_s": 0.15}})
    start(b, 1, "ebike_48v", "mb-1")
    meter = b.world.meter
    b.advance(600, step=300)
    assert b.ctl.meter.last is not None and 100 < b.ctl.meter.last.power_w < 140  # kW register × 1000
    meter.corrupt_next(1)
    b.advance(2, step=1)
    meter.garbage_before_next(8)
    b.advance(2, step=1)
    assert not faults(b, "meter_lost") and b.ctl.meter.client.stats.crc_errors >= 1
    meter.reset_counter()
    b.advance(120, step=60)
    assert faults(b, "meter_counter_reset")
    meter.go_silent()
    b.advance(25, step=25)
    assert faults(b, "meter_lost")[0].active and b.pile.relay_on(1)
