"""The feeder meter: a busy meter is not lost, a lost meter does not stop charging, and the meter catches a port
measuring wrong or current leaking (through the simulators over real serial bytes)."""

from __future__ import annotations

from typing import Any

from linli.contract import Kind, label
from linli.testing import wait_for

from .test_charger_safety import faults, settlement, start

MODBUS = {"meter": {"protocol": "modbus", "map": "ddsu666", "timeout_s": 0.15, "busy_backoff_s": 0.01}}


def test_a_busy_modbus_meter_is_retried_not_lost(make_bench: Any) -> None:
    b = make_bench(MODBUS)
    start(b, 1, "ebike_48v", "busy-1")
    b.world.meter.busy_every(2)  # answers every request, every other one "device busy"
    b.advance(60, step=2)  # three times lost_after_s
    assert not faults(b, "meter_lost") and b.pile.relay_on(1)
    stats = b.ctl.meter.client.stats
    assert stats.transient >= 20 and set(stats.exception_codes) == {6}
    assert b.ctl.meter.last is not None and 100 < b.ctl.meter.last.power_w < 140
    g = b.agent.app.gauges()
    assert g["meter_ok"] is True and g["meter_busy_retries"] == stats.transient
    assert [k for k in g if label(Kind.charger, "gauges", k) is None] == []  # every gauge has a name for people


def test_a_meter_busy_on_every_try_is_lost_only_after_lost_after_s(make_bench: Any) -> None:
    b = make_bench(MODBUS)
    start(b, 1, "ebike_48v", "allbusy-1")
    b.world.meter.fail_next(6, count=100_000)  # busy whatever it is asked: no good reading at all
    b.advance(15, step=5)
    assert not faults(b, "meter_lost")  # lost_after_s is 20 s
    b.advance(10, step=5)
    lost = faults(b, "meter_lost")
    assert lost and lost[-1].active and "device busy" in lost[-1].detail and b.pile.relay_on(1)
    b.world.meter.clear_exceptions()
    b.advance(2, step=1)
    wait_for(lambda: not faults(b, "meter_lost")[-1].active, 5, what="meter_lost cleared")


def test_a_lost_meter_raises_an_alarm_and_charging_goes_on(make_bench: Any) -> None:
    b = make_bench(MODBUS)
    start(b, 1, "ebike_48v", "lost-1")
    start(b, 2, "phone", "lost-2")
    b.advance(600, step=300)
    kwh = b.ctl.meter.total_kwh
    b.world.meter.go_silent()  # an RS-485 glitch in the night
    b.advance(25, step=5)
    lost = faults(b, "meter_lost")
    assert lost and lost[-1].active and "charging goes on" in lost[-1].detail
    assert b.pile.relay_on(1) and b.pile.relay_on(2) and not b.events("charger.settlement")
    assert b.agent.app.state() == "charging" and b.agent.app.gauges()["meter_ok"] is False
    b.pile.plug(3, "ebike_48v")  # starts are accepted: nothing they need comes from the meter
    b.settle()
    assert b.command("start", port=3, order_id="lost-3").ok and b.pile.relay_on(3)
    b.advance(3600, step=600)
    b.world.meter.resume()
    b.advance(4, step=2)
    wait_for(lambda: not faults(b, "meter_lost")[-1].active, 5, what="meter_lost cleared")
    assert b.ctl.meter.total_kwh > kwh + 0.1  # its register kept counting through the silence
    for port, order in ((1, "lost-1"), (3, "lost-3")):
        b.command("stop", port=port)
        s = settlement(b, order)
        drawn = b.pile.port(port).energy_wh
        assert s.stop_reason == "remote_stop" and drawn - 1 <= s.energy_wh <= drawn + 1, (s.energy_wh, drawn)
        assert s.tier_w == 200 and s.amount_fen == (25 * -(-s.charged_s // 60) + 30) // 60  # half up
    assert all(e.data["stop_reason"] != "meter_lost" for e in b.events("charger.settlement"))  # the phone: full


def test_current_no_port_measures_is_a_fault_with_the_numbers(make_bench: Any) -> None:
    b = make_bench({"meter": {"balance_confirm_s": 120}})
    start(b, 1, "ebike_48v", "leak-1")
    b.advance(300, step=60)
    assert not faults(b, "meter_power_mismatch")
    b.pile.leak(60)  # current to earth through the pile's feeder
    b.advance(60, step=30)
    assert not faults(b, "meter_power_mismatch")  # not yet persistent
    b.advance(120, step=30)
    f = faults(b, "meter_power_mismatch")
    assert len(f) == 1 and f[0].active and f[0].value is not None and 60 <= f[0].value <= 64
    assert "meter 1" in f[0].detail and "ports 1" in f[0].detail and "W" in f[0].detail
    assert next(e for e in b.events("charger.fault") if e.data["fault"] == "meter_power_mismatch").severity == "alarm"
    assert b.pile.relay_on(1)  # an alarm for a technician: the port protections still work from the MCU
    b.pile.leak(0)
    b.advance(180, step=30)
    f = faults(b, "meter_power_mismatch")
    assert len(f) == 2 and not f[-1].active


def test_a_port_measuring_low_is_caught_by_the_energy_balance(make_bench: Any) -> None:
    b = make_bench({"meter": {"balance_window_s": 1800, "balance_confirm_s": 3600}})
    start(b, 4, "ebike_72v_modified", "cal-4")
    b.advance(1900, step=100)
    assert not faults(b, "meter_energy_mismatch")
    b.pile.miscalibrate(4, 0.7)  # the port counts 70 % of what it delivers
    b.advance(3700, step=100)
    f = faults(b, "meter_energy_mismatch")
    assert f and f[0].active and f[0].value is not None and f[0].value > 25
    assert "Wh" in f[0].detail and "the ports" in f[0].detail
    assert faults(b, "meter_power_mismatch")  # the power gap has lasted its confirmation time too
