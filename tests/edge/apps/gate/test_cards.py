"""One card, one identity at the gate: the card a resident holds (hex 00BC614E as one reader writes it, decimal
12345678 as the card list keeps it) opens the lane's barrier and the door alike, read from real bytes on ptys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from edge.apps.gate.sim import CarSim, lane_pins
from edge.hal.sim import PinBoard
from edge.runtime.harness import AgentFactory, Recorder
from firmware_bridge.sim.pty import PtyPair
from linli.contract.gate import ListEntry, PassageData
from linli.testing import wait_for

from .conftest import HAL, gate_app


def test_the_same_card_at_the_lane_and_the_door(gate_agents: AgentFactory, gate_recorder: Recorder) -> None:
    with PtyPair() as lane_pty, PtyPair() as door_pty:
        hal: dict[str, Any] = {**HAL, "serial": {
            "lane_cards": {"url": lane_pty.device_path, "baudrate": 9600, "timeout_s": 0.1},
            "door_cards": {"url": door_pty.device_path, "baudrate": 9600, "timeout_s": 0.1}}}
        app = gate_app()
        app["lanes"]["in"]["card_reader"] = "lane_cards"
        app["door"] = {**app["door"], "reader": "door_cards"}
        agent = gate_agents.make(hal=hal, app=app)
        now = datetime.now(UTC)
        agent.app.store.upsert_entries([ListEntry(list="card", key="12345678", valid_from=now - timedelta(days=1),
                                                  valid_to=now + timedelta(days=9), label="5-302")])
        car = CarSim(PinBoard(), lane_pins(agent.cfg.hal, agent.app.cfg, "in"))
        before = car.pulses()
        lane_pty.write(b"00BC614E\r\n")  # this reader writes hex
        assert car.wait_open(before, 3.0), "the lane did not open for a valid card"
        door_pty.write(b"0012345678\r\n")  # the door's reader writes decimal
        wait_for(lambda: agent.hal.relays["door_lock"].is_on, 3, what="door unlocked")
        lane_pty.write(b"00BC6150\r\n")  # a card not on the list
        got = gate_recorder.wait(lambda: len(gate_recorder.events(type="gate.passage")) >= 2
                                 and gate_recorder.events(type="gate.passage"), what="two lane passages")
        lane = [PassageData.model_validate(e.data) for e in got]
        assert [(p.source, p.reason, p.opened) for p in lane] == [("card", "card_valid", True),
                                                                  ("card", "card_unknown", False)]
        assert lane[0].label == "5-302" and lane[0].note == "card ****5678"
        assert car.pulses() == before + 1
