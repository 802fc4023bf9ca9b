"""Gate test fixtures: agents of kind gate on the session's Mosquitto (pins mocked, HTTP real)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.runtime.harness import AgentFactory, Recorder
from linli.testing import TestBroker

HAL: dict[str, Any] = {
    "pin_factory": "mock",
    "inputs": {
        "loop_in": {"pin": 5, "pull_up": True, "bounce_ms": 0},
        "loop_out": {"pin": 6, "pull_up": True, "bounce_ms": 0},
        "exit_btn": {"pin": 13, "pull_up": False, "bounce_ms": 0},
        "door_open": {"pin": 19, "pull_up": False, "bounce_ms": 0},
        "fire": {"pin": 26, "pull_up": False, "bounce_ms": 0},
    },
    "relays": {"open_in": {"pin": 17}, "open_out": {"pin": 27}, "close_in": {"pin": 23}, "door_lock": {"pin": 22}},
    "speaker": {"backend": "record"},
}


def gate_app(**over: Any) -> dict[str, Any]:
    app: dict[str, Any] = {
        "lanes": {
            "in": {"direction": "entry", "source": "lpr_push", "lpr_serial": "cam-in", "open_relay": "open_in",
                   "close_relay": "close_in", "loop": "loop_in"},
            "out": {"direction": "exit", "source": "lpr_push", "lpr_serial": "cam-out", "open_relay": "open_out",
                    "loop": "loop_out"},
        },
        "lpr": {"host": "127.0.0.1", "port": 0, "max_body_bytes": 2_000_000, "max_image_bytes": 200_000,
                "allow_from": ["127.0.0.1"]},
        "tariff": {"free_minutes": 30, "hourly_cents": 500, "daily_cap_cents": 4000},
        "capacity_temporary": 5,
        "repeat_window_s": 60,
        "door": {"name": "east-door", "lock_relay": "door_lock", "unlock_s": 1.0, "exit_button": "exit_btn",
                 "door_contact": "door_open", "fire_input": "fire", "held_open_s": 3, "forced_grace_s": 0.2},
        "loop_interval_s": 0.05,
    }
    app.update(over)
    return app


@pytest.fixture
def gate_agents(mqtt_broker: TestBroker, tmp_path: Path) -> Iterator[AgentFactory]:
    f = AgentFactory(mqtt_broker, tmp_path, site="t-gate", kind="gate", n=2)
    yield f
    f.close()


@pytest.fixture
def gate_recorder(mqtt_broker: TestBroker, gate_agents: AgentFactory) -> Iterator[Recorder]:
    with Recorder(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, ["linli/v1/t-gate/#"]) as r:
        yield r
