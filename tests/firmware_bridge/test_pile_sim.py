"""The simulated world: charging curves on an accelerated clock, loads, heat, the clock itself."""

from __future__ import annotations

import time

import pytest

from firmware_bridge.pile import PileClient
from firmware_bridge.sim.clock import SimClock
from firmware_bridge.sim.loads import LOADS, BatteryCharger, make_load
from firmware_bridge.sim.pile_sim import PileSim


def test_full_charge_runs_to_float_on_an_accelerated_clock() -> None:
    speed = 6 * 3600 / 1.5  # six hours in 1.5 s
    with PileSim(speed=speed) as sim, PileClient(sim.device_path, timeout=0.5) as c:
        load = sim.plug(1, "ebike_48v")
        assert isinstance(load, BatteryCharger)
        c.set_relay(1, True)
        t_start = sim.clock.now()
        samples: list[tuple[float, float]] = []  # (simulated hours, watts) as polled over the line
        deadline = time.monotonic() + 8.0
        while time.monotonic() < deadline and len([w for _, w in samples if w < 15]) < 5:
            samples.append(((sim.clock.now() - t_start) / 3600, c.read_ports().port(1).power_w))
            time.sleep(0.01)
        assert load.stage == "float"
        watts = [w for _, w in samples]
        peak = watts.index(max(watts))
        rising, falling = watts[: peak + 1], [w for w in watts[peak:] if w >= 15]
        floating = [w for w in watts if w < 15]
        assert rising[0] >= 100 and max(watts) <= 130  # CC 1.8 A while the pack voltage rises...
        assert rising == sorted(rising)  # ...so the power rises
        assert falling == sorted(falling, reverse=True) and len(falling) >= 3  # CV: the current tapers
        assert all(1.5 < w < 3.0 for w in floating)  # float ≈ 2 W: under the 15 W "full" line, above 0
        last_charging_h = max(h for h, w in samples if w >= 15)
        first_float_h = min(h for h, w in samples if w < 15)
        assert last_charging_h < 6.0 and first_float_h > 5.5  # the switch to float comes after ~5.8 h
        energy_wh = c.read_ports().port(1).energy_wh
        assert 550 < energy_wh < 750  # ~0.65 kWh from the socket for 0.6 × 12 Ah × ~55 V / 85 %


def test_charging_pauses_while_the_relay_is_off() -> None:
    clock = SimClock(speed=0)
    with PileSim(clock=clock) as sim, PileClient(sim.device_path) as c:
        load = sim.plug(2, "ebike_48v")
        assert isinstance(load, BatteryCharger)
        c.set_relay(2, True)
        clock.advance(3600)
        assert sim.load(2) is load  # the sim catches up with the clock on every access
        charged = load.charged_s
        assert charged == pytest.approx(3600)
        c.set_relay(2, False)
        clock.advance(3600)
        assert sim.port(2).power_w == 0 and load.charged_s == pytest.approx(charged)


def test_outlet_heats_with_the_load() -> None:
    clock = SimClock(speed=0)
    with PileSim(clock=clock) as sim, PileClient(sim.device_path) as c:
        sim.plug(1, "overload")
        c.set_relay(1, True)
        clock.advance(4 * 3600)
        hot = c.read_ports().port(1).temperature_c
        assert hot is not None and 45 < hot < 50  # 25 °C + 0.03 K/W × 800 W
        c.set_relay(1, False)
        clock.advance(4 * 3600)
        cooled = c.read_ports().port(1).temperature_c
        assert cooled == pytest.approx(25.0, abs=0.5)


def test_meter_values_integrate_the_piles_draw() -> None:
    clock = SimClock(speed=0)
    with PileSim(clock=clock, standby_w=3.0) as sim, PileClient(sim.device_path) as c:
        sim.plug(1, "overload")
        c.set_relay(1, True)
        clock.advance(3600)
        values = sim.meter_values()
        assert values["active_power"] == pytest.approx(803.0)
        assert values["import_energy"] == pytest.approx(0.803, rel=1e-3)
        assert values["current"] == pytest.approx(800 / (221 * 0.98) + 3 / 221, rel=1e-2)


def test_every_preset_load_builds_and_draws_power() -> None:
    for kind in LOADS:
        load = make_load(kind)
        assert load.ac_power_w() > 0, kind
        load.step(60)
    with pytest.raises(ValueError, match="unknown load 'kettle'"):
        make_load("kettle")
    assert make_load("ebike_48v", capacity_ah=20).spec.capacity_ah == 20  # type: ignore[attr-defined]


def test_lithium_charger_switches_off_when_full() -> None:
    load = make_load("ebike_48v_li")
    for _ in range(12 * 360):
        load.step(10)
    assert load.stage == "done" and load.ac_power_w() == pytest.approx(0.5)


def test_clock() -> None:
    clock = SimClock(speed=100)
    t0 = clock.now()
    time.sleep(0.05)
    assert 4 < clock.now() - t0 < 20
    clock.speed = 0
    frozen = clock.now()
    time.sleep(0.02)
    assert clock.now() == frozen
    clock.advance(10)
    assert clock.now() == pytest.approx(frozen + 10)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        SimClock(speed=-1)


def test_scenario_api_rejects_bad_ports() -> None:
    sim = PileSim(ports=4)
    with pytest.raises(ValueError, match="no port 5 \\(ports 1-4\\)"):
        sim.plug(5)
    with pytest.raises(ValueError, match="sensor mode"):
        sim.fail_temp_sensor(1, "melted")  # type: ignore[arg-type]
    sim.pair.close()
