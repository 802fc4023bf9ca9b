"""One barrier: open = a relay pulse; the vehicle-presence loop; an optional close relay that is never energised
while the loop is occupied; tailgating, arm-fault and stuck-loop detection.

:class:`BarrierLogic` is the pure state machine (time is passed in, no threads, no pins: the property tests drive
it with arbitrary input sequences). :class:`Barrier` runs it against the HAL: it checks the loop input itself
under the same lock right before it energises the close relay, and a loop that becomes occupied cuts the close
relay in the input's own callback and re-opens the arm (what the barrier's anti-smash logic would do too).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from edge.hal import Input, Relay

ActionName = Literal["open_pulse", "close_pulse", "close_off"]
AlarmName = Literal["tailgating", "arm_fault", "loop_stuck"]


class BarrierRefused(Exception):
    """A command the barrier will not carry out (the message says why)."""


@dataclass(frozen=True)
class Alarm:
    name: AlarmName
    detail: str
    vehicles: int | None = None
    authorised: int | None = None
    seconds: float | None = None


@dataclass
class Step:
    actions: list[ActionName] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)


@dataclass
class BarrierLogic:
    open_pulse_s: float = 0.5
    close_pulse_s: float = 0.5
    has_close: bool = False
    auto_close_s: float | None = None
    tailgate_window_s: float = 30.0
    arm_timeout_s: float = 6.0
    loop_stuck_s: float = 300.0
    has_arm_input: bool = False

    occupied: bool = False
    occupied_since: float | None = None
    arm_up: bool = False
    arm_up_input: bool = False
    closing_until: float | None = None
    open_requested_at: float | None = None
    authorised: int = 0
    passed: int = 0
    last_activity: float = 0.0
    stuck_reported: bool = False

    # ------------------------------------------------------------------ queries
    def closing(self, now: float) -> bool:
        """Whether the close output is energised now."""
        return self.closing_until is not None and now < self.closing_until

    def state(self, now: float) -> str:
        if self.closing(now):
            return "closing"
        if self.occupied:
            return "vehicle"
        return "open" if self.arm_up else "closed"

    # ------------------------------------------------------------------ inputs
    def open(self, now: float) -> Step:
        step = Step()
        if self.closing(now):
            self.closing_until = None
            step.actions.append("close_off")
        step.actions.append("open_pulse")
        if now - self.last_activity > self.tailgate_window_s and not self.occupied:
            self.authorised = self.passed = 0
        self.authorised += 1
        self.arm_up = True
        self.open_requested_at = now  # watched for the arm-up input until it rises or the fault is told (once)
        self.last_activity = now
        return step

    def close(self, now: float) -> Step:
        if not self.has_close:
            raise BarrierRefused("this lane has no close relay (the barrier closes by itself once the car is through)")
        if self.occupied:
            raise BarrierRefused("a vehicle is on the loop: the arm is never closed on an occupied loop")
        self.closing_until = now + self.close_pulse_s
        self.arm_up = False
        self.last_activity = now
        return Step(["close_pulse"])

    def loop(self, occupied: bool, now: float) -> Step:
        step = Step()
        if occupied == self.occupied:
            return step
        self.occupied = occupied
        self.last_activity = now
        if occupied:
            self.occupied_since = now
            self.stuck_reported = False
            if self.closing(now):  # reverse: stop closing, lift the arm again
                self.closing_until = None
                step.actions += ["close_off", "open_pulse"]
                self.arm_up = True
            return step
        self.occupied_since = None
        self.passed += 1
        if self.passed > self.authorised:
            if self.authorised >= 1:
                step.alarms.append(Alarm("tailgating", "more_vehicles_than_openings", self.passed, self.authorised))
            self.authorised = self.passed  # told once: the extra vehicle does not use up the next opening
        if self.passed >= self.authorised:
            self.arm_up = False  # the barrier closes by itself behind the last authorised car
        return step

    def arm(self, up: bool, now: float) -> Step:
        step = Step()
        was = self.arm_up_input
        self.arm_up_input = up
        if was and not up and self.occupied:
            step.alarms.append(Alarm("arm_fault", "came_down_on_vehicle"))
        return step

    def tick(self, now: float) -> Step:
        step = Step()
        if self.closing_until is not None and now >= self.closing_until:
            self.closing_until = None
        if self.occupied and self.occupied_since is not None and not self.stuck_reported \
                and now - self.occupied_since >= self.loop_stuck_s:
            self.stuck_reported = True
            step.alarms.append(Alarm("loop_stuck", "occupied_too_long", seconds=round(now - self.occupied_since, 1)))
        if self.has_arm_input and self.open_requested_at is not None:
            if self.arm_up_input:
                self.open_requested_at = None
            elif now - self.open_requested_at >= self.arm_timeout_s:
                self.open_requested_at = None
                step.alarms.append(Alarm("arm_fault", "did_not_open", seconds=self.arm_timeout_s))
        if self._auto_close_pending() and now - self.last_activity >= self.auto_close_s:  # type: ignore[operator]
            self.authorised = self.passed
            step.actions += self.close(now).actions
        # a quiet lane starts counting again, but not while an opening still waits for its auto-close (an auto-close
        # longer than the window would otherwise never come)
        if not self.occupied and now - self.last_activity > self.tailgate_window_s and not self._auto_close_pending():
            self.authorised = self.passed = 0
        return step

    def _auto_close_pending(self) -> bool:
        """The arm is up for authorised vehicles that have not come, and this lane closes it by command."""
        return (self.has_close and self.auto_close_s is not None and self.arm_up and not self.occupied
                and self.passed < self.authorised)


class Barrier:
    """The logic on real (or mock) pins. ``on_alarm(alarm)`` is called for tailgating / arm faults / stuck loops."""

    def __init__(self, name: str, logic: BarrierLogic, open_relay: Relay, loop: Input | None,
                 close_relay: Relay | None, arm_input: Input | None, monotonic: Callable[[], float],
                 on_alarm: Callable[[Alarm], None], on_loop: Callable[[bool], None] | None = None) -> None:
        self.name = name
        self.logic = logic
        self.open_relay = open_relay
        self.close_relay = close_relay
        self.loop_input = loop
        self.arm_input = arm_input
        self.mono = monotonic
        self.on_alarm = on_alarm
        self.on_loop = on_loop
        self.opens = 0
        self._lock = threading.RLock()
        if loop is not None:
            logic.occupied = loop.is_active
            loop.on_change(self._loop_changed)
        if arm_input is not None:
            logic.arm_up_input = arm_input.is_active
            arm_input.on_change(lambda _n, up: self._run(self.logic.arm(up, self.mono())))

    def _occupied_now(self) -> bool:
        return self.loop_input is not None and self.loop_input.is_active

    def _run(self, step: Step) -> None:
        with self._lock:
            for action in step.actions:
                if action == "open_pulse":
                    self.open_relay.pulse(self.logic.open_pulse_s)
                    self.opens += 1
                elif action == "close_off":
                    if self.close_relay is not None:
                        self.close_relay.off()
                elif action == "close_pulse" and self.close_relay is not None and not self._occupied_now():
                    # Last check against the pin itself, under the lock the loop callback also takes.
                    self.close_relay.pulse(self.logic.close_pulse_s)
        for alarm in step.alarms:
            self.on_alarm(alarm)

    def _loop_changed(self, _name: str, occupied: bool) -> None:
        with self._lock:
            if occupied and self.close_relay is not None:
                self.close_relay.off()  # first, before anything else
            step = self.logic.loop(occupied, self.mono())
            self._run(step)
        if self.on_loop is not None:
            self.on_loop(occupied)

    def open(self) -> None:
        with self._lock:
            self._run(self.logic.open(self.mono()))

    def close(self) -> None:
        with self._lock:
            if self._occupied_now():  # an arrival the callback did not deliver: act on it (cut a close pulse)
                self._run(self.logic.loop(True, self.mono()))
            self._run(self.logic.close(self.mono()))

    def tick(self) -> None:
        with self._lock:
            self._run(self.logic.tick(self.mono()))

    def safe(self) -> None:
        """Fault or shutdown: no output energised (the barrier's own fail-safe decides what the arm does)."""
        self.open_relay.off()
        if self.close_relay is not None:
            self.close_relay.off()

    @property
    def occupied(self) -> bool:
        return self.logic.occupied

    def state(self) -> str:
        return self.logic.state(self.mono())
