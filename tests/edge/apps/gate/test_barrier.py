"""The arm never closes on an occupied loop: property tests over arbitrary input sequences, on the pure logic and on
real (mock) pins; plus tailgating, arm faults and a stuck loop."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.apps.gate.barrier import Alarm, Barrier, BarrierLogic, BarrierRefused
from edge.hal import Hal, HalConfig
from edge.hal.sim import PinBoard

ops = st.lists(st.tuples(st.sampled_from(["open", "close", "loop_on", "loop_off", "tick", "arm_up", "arm_down"]),
                         st.floats(0, 5)), max_size=60)


@given(ops, st.booleans(), st.sampled_from([None, 3.0, 10.0]))
@settings(max_examples=400)
def test_close_output_never_on_while_occupied(seq: list[tuple[str, float]], arm_input: bool,
                                              auto_close: float | None) -> None:
    logic = BarrierLogic(has_close=True, auto_close_s=auto_close, close_pulse_s=0.5, has_arm_input=arm_input)
    now = 0.0
    for op, dt in seq:
        now += dt
        try:
            if op == "open":
                logic.open(now)
            elif op == "close":
                logic.close(now)
            elif op == "loop_on":
                logic.loop(True, now)
            elif op == "loop_off":
                logic.loop(False, now)
            elif op == "arm_up":
                logic.arm(True, now)
            elif op == "arm_down":
                logic.arm(False, now)
            else:
                logic.tick(now)
        except BarrierRefused:
            assert logic.occupied or not logic.has_close
        assert not (logic.occupied and logic.closing(now)), f"closing on an occupied loop after {op} at {now}"
        # and a moment later too (a pulse that started before the car arrived was cut)
        assert not (logic.occupied and logic.closing(now + 0.01))


def test_tailgating_and_arm_faults() -> None:
    logic = BarrierLogic(has_arm_input=True, arm_timeout_s=2, loop_stuck_s=10, tailgate_window_s=30)
    logic.open(0)
    logic.arm(True, 0.5)
    logic.loop(True, 1)
    assert logic.loop(False, 2).alarms == []
    logic.loop(True, 3)
    step = logic.loop(False, 4)  # a second car under the same opening
    assert [a.name for a in step.alarms] == ["tailgating"] and step.alarms[0].vehicles == 2
    logic.arm(False, 5)
    logic.open(100)
    assert [a.detail for a in logic.tick(103).alarms] == ["did_not_open"]
    logic.arm(True, 104)
    logic.loop(True, 105)
    assert [a.detail for a in logic.arm(False, 105.5).alarms] == ["came_down_on_vehicle"]
    assert [a.name for a in logic.tick(116).alarms] == ["loop_stuck"]
    assert logic.tick(130).alarms == []  # once per occupancy


HAL_DOC: dict[str, Any] = {"pin_factory": "mock",
                           "inputs": {"loop": {"pin": 5, "pull_up": False, "bounce_ms": 0}},
                           "relays": {"open": {"pin": 17}, "close": {"pin": 23}}}


@given(st.lists(st.sampled_from(["open", "close", "car_on", "car_off", "tick"]), max_size=25))
@settings(max_examples=40, deadline=None)
def test_on_pins_close_relay_never_high_while_loop_high(seq: list[str]) -> None:
    with Hal(HalConfig.model_validate(HAL_DOC)) as hal:
        _run_on_pins(hal, PinBoard(), seq)


def _run_on_pins(hal: Hal, board: PinBoard, seq: list[str]) -> None:
    board.set_input(5, False)
    alarms: list[Alarm] = []
    logic = BarrierLogic(has_close=True, close_pulse_s=0.05, open_pulse_s=0.05)
    b = Barrier("t", logic, hal.relays["open"], hal.inputs["loop"], hal.relays["close"], None, time.monotonic,
                alarms.append)
    for op in seq:
        try:
            if op == "open":
                b.open()
            elif op == "close":
                b.close()
            elif op == "car_on":
                board.set_input(5, True)
            elif op == "car_off":
                board.set_input(5, False)
            else:
                b.tick()
        except BarrierRefused:
            pass
        assert not (hal.inputs["loop"].is_active and board.output_level(23)), \
            f"close relay energised with a car on the loop ({op})"
