"""Barrier logic over time (edge/apps/gate/barrier.py), exactly: every output action, every alarm with its figures and
the state after each input, for arbitrary input sequences, against a reference model written from the module's rules;
then the same rules on mock pins with a fake clock.

The rules (module doc and the developers' guide):

- ``open`` pulses the open relay and authorises one more vehicle; during a close pulse it first cuts the close relay.
  Openings and passages are counted together while the lane is busy: after ``tailgate_window_s`` of quiet (no
  input, loop free) the counts start again from zero.
- ``close`` pulses the close relay for ``close_pulse_s``; it is refused without a close relay and with a vehicle on
  the loop (the arm is never closed on an occupied loop).
- A vehicle arriving on the loop during a close pulse cuts the close relay and lifts the arm again.
- A vehicle leaving the loop is one passage; more passages than openings (with at least one opening) is tailgating,
  told once per extra vehicle: the extra vehicle does not use up a later opening.
  The arm comes down by itself behind the last authorised vehicle.
- Arm fault: the arm-up input did not rise within ``arm_timeout_s`` of an opening (once per opening), or the arm came
  down while a vehicle was on the loop. Stuck loop: occupied for ``loop_stuck_s`` (once per occupancy).
- Auto-close (with a close relay): the arm is up, authorised vehicles did not come, ``auto_close_s`` of quiet.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.apps.gate.barrier import Alarm, Barrier, BarrierLogic, BarrierRefused, Step
from edge.hal import Hal, HalConfig
from edge.hal.sim import PinBoard

# ------------------------------------------------------------------ the reference model


@dataclass
class Model:
    close_pulse_s: float
    has_close: bool
    auto_close_s: float | None
    window_s: float
    arm_timeout_s: float
    stuck_s: float
    has_arm_input: bool

    occupied: bool = False
    occupied_at: float | None = None
    arm_commanded_up: bool = False
    arm_sensed_up: bool = False
    close_ends: float | None = None  # the close relay is energised while now < close_ends
    opened_at: float | None = None  # an opening still waiting for the arm-up input
    openings: int = 0
    passages: int = 0
    quiet_since: float = 0.0
    stuck_told: bool = False
    fault_told: bool = False

    def closing(self, now: float) -> bool:
        return self.close_ends is not None and now < self.close_ends

    def state(self, now: float) -> str:
        if self.closing(now):
            return "closing"
        if self.occupied:
            return "vehicle"
        return "open" if self.arm_commanded_up else "closed"

    def _busy_window_over(self, now: float) -> bool:
        return not self.occupied and now - self.quiet_since > self.window_s

    def open(self, now: float) -> tuple[list[str], list[Alarm]]:
        actions = []
        if self.closing(now):
            self.close_ends = None
            actions.append("close_off")
        actions.append("open_pulse")
        if self._busy_window_over(now):
            self.openings = self.passages = 0
        self.openings += 1
        self.arm_commanded_up = True
        self.opened_at = now
        self.fault_told = False
        self.quiet_since = now
        return actions, []

    def close(self, now: float) -> tuple[list[str], list[Alarm]]:
        if not self.has_close or self.occupied:
            raise BarrierRefused
        self.close_ends = now + self.close_pulse_s
        self.arm_commanded_up = False
        self.quiet_since = now
        return ["close_pulse"], []

    def loop(self, occupied: bool, now: float) -> tuple[list[str], list[Alarm]]:
        if occupied == self.occupied:
            return [], []
        self.occupied = occupied
        self.quiet_since = now
        if occupied:
            self.occupied_at = now
            self.stuck_told = False
            if self.closing(now):
                self.close_ends = None
                self.arm_commanded_up = True
                return ["close_off", "open_pulse"], []
            return [], []
        self.occupied_at = None
        self.passages += 1
        alarms = []
        if self.passages > self.openings:
            if self.openings > 0:
                alarms.append(Alarm("tailgating", "more_vehicles_than_openings", self.passages, self.openings))
            self.openings = self.passages
        if self.passages >= self.openings:
            self.arm_commanded_up = False
        return [], alarms

    def arm(self, up: bool, now: float) -> tuple[list[str], list[Alarm]]:
        came_down = self.arm_sensed_up and not up
        self.arm_sensed_up = up
        if came_down and self.occupied:
            return [], [Alarm("arm_fault", "came_down_on_vehicle")]
        return [], []

    def tick(self, now: float) -> tuple[list[str], list[Alarm]]:
        actions: list[str] = []
        alarms: list[Alarm] = []
        if self.close_ends is not None and now >= self.close_ends:
            self.close_ends = None
        if self.occupied and self.occupied_at is not None and not self.stuck_told \
                and now - self.occupied_at >= self.stuck_s:
            self.stuck_told = True
            alarms.append(Alarm("loop_stuck", "occupied_too_long", seconds=round(now - self.occupied_at, 1)))
        if self.has_arm_input and self.opened_at is not None and not self.fault_told:
            if self.arm_sensed_up:
                self.opened_at = None
            elif now - self.opened_at >= self.arm_timeout_s:
                self.fault_told = True
                self.opened_at = None
                alarms.append(Alarm("arm_fault", "did_not_open", seconds=self.arm_timeout_s))
        if self._auto_close_waits() and now - self.quiet_since >= self.auto_close_s:  # type: ignore[operator]
            self.openings = self.passages
            actions += self.close(now)[0]
        if self._busy_window_over(now) and not self._auto_close_waits():
            self.openings = self.passages = 0
        return actions, alarms

    def _auto_close_waits(self) -> bool:
        return (self.has_close and self.auto_close_s is not None and self.arm_commanded_up and not self.occupied
                and self.passages < self.openings)


OPS = ("open", "close", "loop_on", "loop_off", "arm_up", "arm_down", "tick", "tick", "tick")
# steps in quarter seconds: sums stay exact, so the boundaries (exactly at a timeout) are hit often
steps = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 16).map(lambda q: q / 4)), max_size=50)
configs = st.fixed_dictionaries({
    "close_pulse_s": st.sampled_from([0.5, 1.0, 2.0]),
    "has_close": st.booleans(),
    "auto_close_s": st.sampled_from([None, 1.0, 2.5]),
    "tailgate_window_s": st.sampled_from([1.0, 3.0, 5.0]),
    "arm_timeout_s": st.sampled_from([1.0, 2.0]),
    "loop_stuck_s": st.sampled_from([1.5, 4.0]),
    "has_arm_input": st.booleans(),
})


def _apply(target: Any, op: str, now: float) -> tuple[list[str], list[Alarm]] | str:
    try:
        if op == "open":
            r = target.open(now)
        elif op == "close":
            r = target.close(now)
        elif op in ("loop_on", "loop_off"):
            r = target.loop(op == "loop_on", now)
        elif op in ("arm_up", "arm_down"):
            r = target.arm(op == "arm_up", now)
        else:
            r = target.tick(now)
    except BarrierRefused:
        return "refused"
    return (r.actions, r.alarms) if isinstance(r, Step) else r


@given(configs, steps)
@settings(max_examples=200, deadline=None)
def test_logic_follows_the_rules_exactly(cfg: dict[str, Any], seq: list[tuple[str, float]]) -> None:
    logic = BarrierLogic(**cfg)
    model = Model(cfg["close_pulse_s"], cfg["has_close"], cfg["auto_close_s"], cfg["tailgate_window_s"],
                  cfg["arm_timeout_s"], cfg["loop_stuck_s"], cfg["has_arm_input"])
    now = 0.0
    for n, (op, dt) in enumerate(seq):
        now += dt
        got, expected = _apply(logic, op, now), _apply(model, op, now)
        assert got == expected, f"step {n}: {op} at {now}"
        for later in (now, now + 0.25, now + cfg["close_pulse_s"] - 0.25, now + cfg["close_pulse_s"]):
            assert logic.state(later) == model.state(later), f"state after step {n} ({op} at {now}), seen at {later}"
            assert logic.closing(later) == model.closing(later)
        assert logic.occupied == model.occupied
        # the safety rule, independent of the model: never closing on an occupied loop
        assert not (logic.occupied and logic.closing(now))


@given(configs, steps)
@settings(max_examples=80, deadline=None)
def test_a_vehicle_arriving_during_a_close_pulse_always_gets_the_arm_lifted(cfg: dict[str, Any],
                                                                            seq: list[tuple[str, float]]) -> None:
    logic = BarrierLogic(**{**cfg, "has_close": True})
    now = 0.0
    for op, dt in seq:
        now += dt
        was_closing, was_occupied = logic.closing(now), logic.occupied
        r = _apply(logic, op, now)
        if op == "loop_on" and not was_occupied:
            assert r == ((["close_off", "open_pulse"], []) if was_closing else ([], []))
            assert logic.state(now) == "vehicle" and not logic.closing(now)
        if op == "close":
            assert (r == "refused") == was_occupied
            if r != "refused":
                assert logic.state(now) == "closing"
                assert logic.closing(now + cfg["close_pulse_s"] - 0.01)
                assert not logic.closing(now + cfg["close_pulse_s"])


# ------------------------------------------------------------------ the rules one by one, at their boundaries


def test_states() -> None:
    logic = BarrierLogic(has_close=True, close_pulse_s=1.0)
    assert logic.state(0) == "closed"
    logic.open(1)
    assert logic.state(1) == "open"
    logic.loop(True, 2)
    assert logic.state(2) == "vehicle"
    logic.loop(False, 3)
    assert logic.state(3) == "closed" and logic.arm_up is False  # it closes by itself behind the authorised car
    logic.open(4)
    logic.close(5)
    assert [logic.state(t) for t in (5, 5.99, 6)] == ["closing", "closing", "closed"] and logic.arm_up is False
    assert logic.tick(6).actions == [] and logic.closing_until is None


def test_car_arriving_during_the_close_pulse_lifts_the_arm_again() -> None:
    logic = BarrierLogic(has_close=True, close_pulse_s=1.0)
    logic.open(0)
    assert logic.close(1).actions == ["close_pulse"]
    step = logic.loop(True, 1.5)
    assert (step.actions, step.alarms) == (["close_off", "open_pulse"], [])
    assert logic.state(1.5) == "vehicle" and logic.arm_up and not logic.closing(1.6)
    # after the pulse it is an ordinary arrival: nothing to cut
    logic.loop(False, 3)
    logic.close(4)
    assert logic.loop(True, 5).actions == []


def test_open_during_a_close_pulse_cuts_the_close_relay_first() -> None:
    logic = BarrierLogic(has_close=True, close_pulse_s=1.0)
    logic.close(0)
    assert logic.open(0.5).actions == ["close_off", "open_pulse"]
    assert logic.open(1.0).actions == ["open_pulse"]


def test_close_refusals() -> None:
    with pytest.raises(BarrierRefused) as exc:
        BarrierLogic().close(0)
    assert str(exc.value) == "this lane has no close relay (the barrier closes by itself once the car is through)"
    logic = BarrierLogic(has_close=True)
    logic.loop(True, 0)
    with pytest.raises(BarrierRefused) as exc:
        logic.close(1)
    assert str(exc.value) == "a vehicle is on the loop: the arm is never closed on an occupied loop"
    assert not logic.closing(1)


def test_tailgating_counts_openings_and_passages_of_one_busy_spell() -> None:
    logic = BarrierLogic(tailgate_window_s=30)
    logic.open(0)
    logic.open(1)  # two openings: two cars may pass
    for t in (2, 4):
        logic.loop(True, t)
        assert logic.loop(False, t + 1).alarms == []
    assert logic.state(5) == "closed"
    logic.loop(True, 6)
    assert logic.loop(False, 7).alarms == [Alarm("tailgating", "more_vehicles_than_openings", 3, 2)]
    # exactly the window later the spell goes on (the counts go on); a moment after, it starts again
    logic.open(37)
    for t in (38, 40):
        logic.loop(True, t)
        step = logic.loop(False, t + 1)
    assert step.alarms == [Alarm("tailgating", "more_vehicles_than_openings", 5, 4)]
    logic.open(71.5)
    for t in (72, 74):
        logic.loop(True, t)
        step = logic.loop(False, t + 1)
    assert step.alarms == [Alarm("tailgating", "more_vehicles_than_openings", 2, 1)]


def test_a_car_without_any_opening_is_not_tailgating() -> None:
    logic = BarrierLogic()
    logic.loop(True, 0)
    assert logic.loop(False, 1).alarms == []


def test_quiet_window_resets_on_tick_only_after_it_has_passed() -> None:
    logic = BarrierLogic(tailgate_window_s=10)
    logic.open(0)
    logic.loop(True, 1)
    logic.loop(False, 2)
    logic.tick(12)  # exactly the window: still the same spell
    logic.loop(True, 12)
    assert logic.loop(False, 13).alarms == [Alarm("tailgating", "more_vehicles_than_openings", 2, 1)]
    logic.tick(23.25)
    logic.open(24)
    logic.loop(True, 25)
    assert logic.loop(False, 26).alarms == []


def test_arm_fault_when_the_arm_does_not_rise_in_time_once_per_opening() -> None:
    logic = BarrierLogic(has_arm_input=True, arm_timeout_s=6)
    logic.open(0)
    assert logic.tick(5.75).alarms == []
    assert logic.tick(6).alarms == [Alarm("arm_fault", "did_not_open", seconds=6)]
    assert logic.tick(7).alarms == [] and logic.tick(20).alarms == []
    logic.open(30)  # a new opening is watched again
    logic.arm(True, 31)
    assert logic.tick(31).alarms == [] and logic.tick(40).alarms == []
    logic.arm(False, 41)
    logic.open(50)
    assert logic.tick(56).alarms == [Alarm("arm_fault", "did_not_open", seconds=6)]


def test_no_arm_fault_without_an_arm_input() -> None:
    logic = BarrierLogic(has_arm_input=False, arm_timeout_s=1)
    logic.open(0)
    assert logic.tick(10).alarms == []


def test_arm_coming_down_on_a_vehicle() -> None:
    logic = BarrierLogic(has_arm_input=True)
    logic.arm(True, 0)
    assert logic.arm(False, 1).alarms == []  # loop free
    logic.arm(True, 2)
    logic.loop(True, 3)
    assert logic.arm(True, 3.5).alarms == []  # no change
    assert logic.arm(False, 4).alarms == [Alarm("arm_fault", "came_down_on_vehicle")]
    assert logic.arm(False, 4.5).alarms == []  # already down


def test_stuck_loop_once_per_occupancy_at_the_limit() -> None:
    logic = BarrierLogic(loop_stuck_s=300)
    logic.loop(True, 10)
    assert logic.tick(309.75).alarms == []
    assert logic.tick(310).alarms == [Alarm("loop_stuck", "occupied_too_long", seconds=300.0)]
    assert logic.tick(900).alarms == []
    logic.loop(False, 901)
    logic.loop(True, 902)
    assert logic.tick(1202.25).alarms == [Alarm("loop_stuck", "occupied_too_long", seconds=300.2)]


def test_auto_close_after_the_quiet_time_when_the_car_did_not_come() -> None:
    logic = BarrierLogic(has_close=True, auto_close_s=10, close_pulse_s=1)
    logic.open(0)
    assert logic.tick(9.75).actions == []
    assert logic.tick(10).actions == ["close_pulse"]
    assert logic.state(10) == "closing" and logic.state(11) == "closed"
    assert logic.tick(30).actions == []  # closed: nothing more to do
    logic.open(40)
    logic.loop(True, 41)
    assert logic.tick(60).actions == []  # never with a car on the loop
    logic.loop(False, 61)  # it passed: nothing left to close for
    assert logic.tick(80).actions == []
    # without a close relay the barrier closes by itself: no command
    other = BarrierLogic(has_close=False, auto_close_s=10)
    other.open(0)
    assert other.tick(20).actions == []


# ------------------------------------------------------------------ on (mock) pins, with a fake clock


HAL_DOC: dict[str, Any] = {"pin_factory": "mock",
                           "inputs": {"loop": {"pin": 5, "pull_up": False, "bounce_ms": 0},
                                      "arm": {"pin": 6, "pull_up": False, "bounce_ms": 0}},
                           "relays": {"open": {"pin": 17}, "close": {"pin": 23}}}
LONG = 60.0  # pulses outlast the test: what a relay does is read while it is still energised


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def hal() -> Iterator[Hal]:
    with Hal(HalConfig.model_validate(HAL_DOC)) as h:
        yield h


def _barrier(hal: Hal, *, close: bool = True, loop: bool = True, arm: bool = False,
             **logic: Any) -> tuple[Barrier, Clock, list[Alarm], list[bool]]:
    clock, alarms, loops = Clock(), [], []
    b = Barrier("t", BarrierLogic(open_pulse_s=LONG, close_pulse_s=LONG, has_close=close, **logic),
                hal.relays["open"], hal.inputs["loop"] if loop else None, hal.relays["close"] if close else None,
                hal.inputs["arm"] if arm else None, clock, alarms.append, loops.append)
    return b, clock, alarms, loops


def test_pins_open_and_close(hal: Hal) -> None:
    board = PinBoard()
    b, clock, _alarms, _loops = _barrier(hal)
    assert b.state() == "closed" and not b.occupied
    b.open()
    assert board.output_level(17) and b.opens == 1 and b.state() == "open"
    hal.relays["open"].off()
    clock.t += 1
    b.close()
    assert board.output_level(23) and b.state() == "closing"
    b.safe()
    assert not board.output_level(17) and not board.output_level(23)


def test_pins_car_during_close_pulse_cuts_close_and_lifts_arm(hal: Hal) -> None:
    board = PinBoard()
    b, clock, _alarms, loops = _barrier(hal)
    b.open()
    hal.relays["open"].off()
    b.close()
    assert board.output_level(23)
    clock.t += 1
    board.set_input(5, True)
    assert not board.output_level(23), "close relay still energised with a car on the loop"
    assert board.output_level(17) and b.opens == 2
    assert loops == [True] and b.occupied and b.state() == "vehicle"
    with pytest.raises(BarrierRefused):
        b.close()
    assert not board.output_level(23)
    board.set_input(5, False)
    assert loops == [True, False] and not b.occupied


def test_pins_close_command_checks_the_loop_pin_itself(hal: Hal) -> None:
    board = PinBoard()
    b, _clock, _alarms, _loops = _barrier(hal)
    board.set_input(5, True)
    b.logic.occupied = False  # a change the logic missed: the pin still decides
    with pytest.raises(BarrierRefused):
        b.close()
    assert not board.output_level(23) and b.logic.occupied
    # a close step produced while a car is on the pin is not carried out
    b.logic.occupied = False
    b._run(Step(["close_pulse"]))
    assert not board.output_level(23)


def test_pins_close_command_during_a_close_pulse_acts_on_an_arrival_the_callback_lost(hal: Hal) -> None:
    board = PinBoard()
    b, clock, _alarms, _loops = _barrier(hal)
    b.close()
    assert board.output_level(23)
    loop = hal.inputs["loop"]
    callbacks, loop._callbacks = loop._callbacks, []  # the edge is lost (a bounce filter, a busy thread)
    board.set_input(5, True)
    loop._callbacks = callbacks
    assert board.output_level(23) and not b.occupied
    clock.t += 0.5
    with pytest.raises(BarrierRefused):
        b.close()  # the guard presses close again: the pin shows the car, the running close pulse is cut
    assert not board.output_level(23), "close relay left pulsing on a car the callback missed"
    assert board.output_level(17) and b.opens == 1 and b.state() == "vehicle"


def test_pins_without_close_relay_or_loop(hal: Hal) -> None:
    b, _clock, _alarms, _loops = _barrier(hal, close=False, loop=False)
    b.open()
    assert b.opens == 1 and not b._occupied_now()
    b._run(Step(["close_off", "close_pulse"]))  # nothing to drive: no error
    with pytest.raises(BarrierRefused):
        b.close()
    b.safe()
    assert not hal.relays["open"].is_on


def test_pins_initial_state_read_from_the_inputs() -> None:
    with Hal(HalConfig.model_validate(HAL_DOC)) as h:
        board = PinBoard()
        board.set_input(5, True)
        board.set_input(6, True)
        b, _clock, alarms, _loops = _barrier(h, arm=True, has_arm_input=True)
        assert b.occupied and b.state() == "vehicle" and b.logic.arm_up_input and b.arm_input is h.inputs["arm"]
        board.set_input(6, False)  # the arm came down on the car
        assert alarms == [Alarm("arm_fault", "came_down_on_vehicle")]
        board.set_input(6, True)
        assert b.logic.arm_up_input and len(alarms) == 1
        board.set_input(5, False)
        board.set_input(6, False)


def test_pins_alarms_from_tick_reach_the_callback(hal: Hal) -> None:
    board = PinBoard()
    b, clock, alarms, _loops = _barrier(hal, arm=True, has_arm_input=True, arm_timeout_s=6, loop_stuck_s=300)
    b.open()
    clock.t += 6
    b.tick()
    assert alarms == [Alarm("arm_fault", "did_not_open", seconds=6)]
    board.set_input(5, True)
    clock.t += 300
    b.tick()
    assert alarms[-1] == Alarm("loop_stuck", "occupied_too_long", seconds=300.0)
    board.set_input(5, False)


def test_pins_multiple_opens_count_each_pulse(hal: Hal) -> None:
    b, clock, _alarms, _loops = _barrier(hal)
    for _ in range(3):
        b.open()
        clock.t += 0.5
    assert b.opens == 3


def test_pins_tick_ends_the_close_pulse_in_the_logic(hal: Hal) -> None:
    b, clock, _alarms, _loops = _barrier(hal, auto_close_s=5.0)
    b.open()
    clock.t += 5
    b.tick()
    assert hal.relays["close"].is_on and b.state() == "closing"
    clock.t += LONG
    b.tick()
    assert b.state() == "closed"


def test_real_time_pulses_end_by_themselves(hal: Hal) -> None:
    board = PinBoard()
    b = Barrier("t", BarrierLogic(open_pulse_s=0.05, close_pulse_s=0.05, has_close=True), hal.relays["open"],
                hal.inputs["loop"], hal.relays["close"], None, time.monotonic, lambda a: None)
    b.open()
    assert board.output_level(17)
    deadline = time.monotonic() + 5
    while board.output_level(17) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not board.output_level(17)


@pytest.mark.parametrize("window", [1.0, 30.0, 600.0])
@pytest.mark.parametrize("auto_close", [3.0, 30.0, 60.0, 600.0])
def test_auto_close_fires_after_its_time_whatever_the_tailgating_window(auto_close: float, window: float) -> None:
    # an auto-close longer than the tailgating window used to be lost: the quiet window reset the counts first
    logic = BarrierLogic(has_close=True, auto_close_s=auto_close, tailgate_window_s=window, close_pulse_s=1.0)
    logic.open(0)
    fired = [t for t in range(1, int(auto_close) + 3) if logic.tick(float(t)).actions == ["close_pulse"]]
    assert fired == [int(auto_close)]
    assert logic.state(auto_close + 1) == "closed"


def test_pins_open_during_a_close_pulse_cuts_the_close_relay(hal: Hal) -> None:
    board = PinBoard()
    b, clock, _alarms, _loops = _barrier(hal)
    assert b.name == "t" and b.arm_input is None and b.close_relay is hal.relays["close"]
    b.close()
    assert board.output_level(23)
    clock.t += 0.5
    b.open()
    assert not board.output_level(23) and board.output_level(17) and b.state() == "open"


def test_pins_arrival_cuts_a_close_relay_still_energised_after_the_logic_pulse_ended(hal: Hal) -> None:
    # the relay's own timer may end a moment after the logic's close window: an arrival cuts it regardless
    board = PinBoard()
    b, clock, _alarms, _loops = _barrier(hal)
    b.close()
    clock.t += LONG + 1
    assert board.output_level(23) and b.state() == "closed"
    board.set_input(5, True)
    assert not board.output_level(23) and b.state() == "vehicle" and b.opens == 0
    board.set_input(5, False)


def test_pins_loop_without_a_close_relay(hal: Hal) -> None:
    board = PinBoard()
    b, _clock, _alarms, loops = _barrier(hal, close=False)
    board.set_input(5, True)
    assert b.occupied and loops == [True] and b.state() == "vehicle"
    board.set_input(5, False)
    assert not b.occupied and loops == [True, False]


def test_after_a_tailgater_the_next_opening_counts_for_its_own_car() -> None:
    # a tailgater is told once; it must not use up the next opening: that car passes without an alarm, and an
    # opening whose car does not come is auto-closed (the arm used to stay up for good)
    logic = BarrierLogic(has_close=True, auto_close_s=10, tailgate_window_s=30, close_pulse_s=1)
    logic.open(0)
    for t in (1, 3):
        logic.loop(True, t)
        step = logic.loop(False, t + 1)
    assert step.alarms == [Alarm("tailgating", "more_vehicles_than_openings", 2, 1)]
    logic.open(5)
    logic.loop(True, 6)
    assert logic.loop(False, 7).alarms == [] and logic.state(7) == "closed"
    logic.open(8)
    assert logic.tick(18).actions == ["close_pulse"]


def test_a_car_through_without_an_opening_does_not_use_up_the_next_one() -> None:
    # a car through the lane without an opening (arm raised by hand, a loop triggered by something else) is not
    # tailgating; the next opening is still its own car's
    logic = BarrierLogic(has_close=True, auto_close_s=10, tailgate_window_s=30, close_pulse_s=1)
    logic.loop(True, 0)
    assert logic.loop(False, 1).alarms == []
    logic.open(2)
    logic.loop(True, 3)
    assert logic.loop(False, 4).alarms == []
    logic.open(5)
    assert logic.tick(14.75).actions == []
    assert logic.tick(15).actions == ["close_pulse"]
