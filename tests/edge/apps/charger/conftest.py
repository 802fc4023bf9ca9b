"""Fixtures for the charger: a simulated pile + meter + card reader on ptys, and a real agent on a frozen clock.

The agent's clock is the simulators' :class:`SimClock` (frozen; tests move it with :meth:`Bench.advance`), so a
six-hour charge, a 120 s plug wait or a two-hour float take a few real seconds and happen in a known order.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.apps.charger.config import ChargerConfig
from edge.apps.charger.sim import ChargerWorld
from edge.hal.config import HalConfig
from edge.runtime.agent import Agent
from edge.runtime.clock import Clock
from edge.runtime.config import load_config
from edge.runtime.harness import AgentFactory, Recorder
from firmware_bridge.sim.clock import SimClock
from linli.merge import deep_merge
from linli.testing import TestBroker, wait_for

SITE = "t-chg"
#: 2026-11-21 10:00 Asia/Shanghai
EPOCH = datetime(2026, 11, 21, 2, 0, tzinfo=UTC).timestamp()

HAL: dict[str, Any] = {
    "pin_factory": "mock",
    "inputs": {"coin": {"pin": 22, "pull_up": True, "bounce_ms": 5}},
    "serial": {"mcu": {"url": "PLACEHOLDER", "baudrate": 115200, "timeout_s": 0.02},
               "meter": {"url": "PLACEHOLDER", "baudrate": 2400, "parity": "E", "timeout_s": 0.02},
               "cards": {"url": "PLACEHOLDER", "baudrate": 9600, "timeout_s": 0.1}},
}
APP: dict[str, Any] = {
    "ports": 10, "mcu_serial": "mcu", "mcu_timeout_s": 0.15, "mcu_lost_after_s": 5, "mcu_watchdog_s": 3,
    "meter": {"protocol": "dlt645", "serial": "meter", "timeout_s": 0.15, "retries": 2, "interval_s": 1,
              "lost_after_s": 20},
    "card_serial": "cards", "coin_input": "coin", "coin_window_s": 2, "card_prepay_fen": 500,
    "limits": {"float_s": 1800, "unplug_s": 120, "wait_plug_s": 120, "overload_confirm_s": 0},
    "poll_interval_s": 0.05, "journal_interval_s": 1, "resume_within_s": 600, "settle_resend_s": 60,
}


class SimTime(Clock):
    """The agent's wall clock runs on the simulators' clock (monotonic stays real: loop pacing, timeouts)."""

    def __init__(self, sim: SimClock, base: float = EPOCH) -> None:
        self.sim = sim
        self.base = base

    def time(self) -> float:
        return self.base + self.sim.now()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)


class Bench:
    """One pile world and the agent that runs it."""

    def __init__(self, factory: AgentFactory, recorder: Recorder, app: dict[str, Any] | None = None) -> None:
        self.factory = factory
        self.recorder = recorder
        self.app_doc = deep_merge(APP, app or {})
        hal = HalConfig.model_validate(HAL)
        self.world = ChargerWorld(hal, ChargerConfig.model_validate(self.app_doc), speed=0).start()
        self.clock = SimTime(self.world.clock)
        self.ref = factory.new_ref()
        self.agent: Agent | None = None

    @property
    def pile(self) -> Any:
        return self.world.pile

    @property
    def ctl(self) -> Any:
        assert self.agent is not None
        return self.agent.app.pile

    def hal_doc(self) -> dict[str, Any]:
        doc = deep_merge(HAL, {})
        for name, path in self.world.paths().items():
            doc["serial"] = {**doc["serial"], name: {**doc["serial"][name], "url": path}}
        return doc

    def config_path(self) -> Path:
        _, path = self.factory.config(self.ref, hal=self.hal_doc(), app=self.app_doc)
        return path

    def start_agent(self) -> Agent:
        agent = Agent(load_config(self.config_path()), clock=self.clock)
        self.factory.agents.append(agent)
        agent.start()
        self.agent = agent
        wait_for(lambda: agent.app.pile.mcu_ok and agent.app.pile.polls > 2, 10, what="agent polling the MCU")
        return agent

    def settle(self, polls: int = 2) -> None:
        """Wait until the agent has polled ``polls`` more times (it has seen what the simulators show now)."""
        n = self.ctl.polls
        wait_for(lambda: self.ctl.polls >= n + polls, 10, what=f"{polls} polls")

    def advance(self, seconds: float, step: float = 60.0) -> None:
        """Move simulated time on in steps, letting the agent poll after each."""
        done = 0.0
        while done < seconds - 1e-9:
            dt = min(step, seconds - done)
            self.world.clock.advance(dt)
            done += dt
            self.settle()

    def command(self, name: str, **args: Any) -> Any:
        cmd = self.recorder.command(self.ref, name, args)
        return self.recorder.wait(lambda: next((r for r in self.recorder.results(self.ref) if r.id == cmd.id), None),
                                  10, what=f"result of {name}")

    def events(self, type: str) -> list[Any]:
        return self.recorder.events(self.ref, type)

    def wait_events(self, type: str, n: int = 1, timeout: float = 10.0) -> list[Any]:
        return self.recorder.wait(lambda: (e := self.events(type))[n - 1:] and e, timeout, what=f"{n} × {type}")

    def close(self) -> None:
        self.world.stop()


@pytest.fixture
def factory(mqtt_broker: TestBroker, tmp_path: Path) -> Iterator[AgentFactory]:
    f = AgentFactory(mqtt_broker, tmp_path, site=SITE, kind="charger", n=2)
    yield f
    f.close()


@pytest.fixture
def recorder(mqtt_broker: TestBroker, factory: AgentFactory) -> Iterator[Recorder]:
    with Recorder(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, [f"linli/v1/{SITE}/#"]) as r:
        yield r


@pytest.fixture
def make_bench(factory: AgentFactory, recorder: Recorder) -> Iterator[Any]:
    made: list[Bench] = []

    def make(app: dict[str, Any] | None = None, start: bool = True) -> Bench:
        b = Bench(factory, recorder, app)
        made.append(b)
        if start:
            b.start_agent()
        return b

    yield make
    factory.close()
    for b in made:
        b.close()
