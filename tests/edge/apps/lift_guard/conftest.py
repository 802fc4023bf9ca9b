"""Lift guard test support: scene clips written once per session, agents on pooled lift devices with a simulated
lift (door contact and relay read-back through the mock pins) and a camera playing a clip."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.apps.lift_guard.scenes import SceneFile, load_scenes, write_clip
from edge.apps.lift_guard.sim import SCENES, LiftSim
from edge.runtime.harness import AgentFactory, Recorder
from linli.testing import TestBroker

SITE = "t-lift"
FPS = 10.0  # tests play clips at 10 fps (twice the default) to run twice as fast; the benchmark uses 5 fps
SIZE = (320, 240)  # a camera's detect sub-stream size (the model looks at 300x300 anyway); quicker to generate


@pytest.fixture(scope="session")
def scenes() -> SceneFile:
    return load_scenes(SCENES)


@pytest.fixture(scope="session")
def clip_video(scenes: SceneFile, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``clip_video("bike_in_out")`` → path of the clip as an mp4v video (written once per session)."""
    root = tmp_path_factory.mktemp("lift-clips")
    made: dict[tuple[str, float, tuple[int, int]], Path] = {}

    def get(name: str, fps: float = FPS, size: tuple[int, int] = SIZE) -> Path:
        key = (name, fps, size)
        if key not in made:
            made[key] = Path(write_clip(root / f"{name}-{fps:g}-{size[0]}.mp4", scenes.clips[name], fps, size))
        return made[key]

    return get


def lift_hal(video: Path, fps: float = FPS, readback: bool = True, pins: int = 4, loop: bool = False
             ) -> dict[str, Any]:
    """Hardware of one lift on four consecutive mock pins from ``pins`` (agents side by side need their own)."""
    relay: dict[str, Any] = {"pin": pins + 2, "active_high": True}
    if readback:
        relay["readback_pin"] = pins + 3
    return {
        "pin_factory": "mock",
        "inputs": {"door_open": {"pin": pins, "pull_up": True, "bounce_ms": 0},
                   "fire_service": {"pin": pins + 1, "pull_up": True, "bounce_ms": 0}},
        "relays": {"door_hold": relay},
        "cameras": {"car": {"source": str(video), "fps": fps, "loop": loop, "read_timeout_s": 2.0}},
        "speaker": {"backend": "record"},
    }


def lift_app(**over: Any) -> dict[str, Any]:
    """The app section used by the tests: the default model and classes, faster health timers."""
    app: dict[str, Any] = {
        "camera": "car", "door_input": "door_open", "hold_relay": "door_hold", "inhibit_inputs": ["fire_service"],
        "health": {"black_s": 1.0, "covered_s": 1.5, "frozen_s": 1.5, "clear_s": 1.0},
        "camera_grace_s": 0,
        "live_every_s": 0.5,
    }
    for k, v in over.items():
        app[k] = {**app[k], **v} if isinstance(v, dict) and isinstance(app.get(k), dict) else v
    return app


@dataclass
class Lift:
    agent: Any
    sim: LiftSim
    stop: threading.Event

    def close(self) -> None:
        self.stop.set()

    @property
    def ref(self) -> Any:
        return self.agent.ref


class LiftFactory:
    """Lift agents with their simulated lift; the door is set *before* the agent (and its camera) starts."""

    def __init__(self, agents: AgentFactory) -> None:
        self.agents = agents
        self._n = 0
        self.made: list[Lift] = []

    def make(self, video: Path, door_open: bool = True, fps: float = FPS, readback: bool = True,
             watchdog_s: float = 5.0, loop: bool = False, **app: Any) -> Lift:
        pins = 4 + 4 * (self._n % 6)
        self._n += 1
        a = self.agents.make(start=False, hal=lift_hal(video, fps, readback, pins, loop), app=lift_app(**app),
                             watchdog={"timeout_s": watchdog_s, "systemd": False})
        sim = LiftSim(a.cfg.hal, a.app.cfg)
        sim.set_door(door_open)
        sim.set_inhibit("fire_service", False)
        sim.mirror_readback()
        sim.board.clear_history(sim.relay_pin)  # mock pins outlive agents: forget an earlier test's levels
        stop = threading.Event()

        def contact() -> None:  # the relay's auxiliary contact follows its coil (unless a test breaks it)
            while not stop.wait(0.02):
                try:
                    sim.mirror_readback()
                except Exception:
                    return

        threading.Thread(target=contact, name="relay-contact", daemon=True).start()
        a.start()
        lift = Lift(a, sim, stop)
        self.made.append(lift)
        return lift

    def close(self) -> None:
        for lift in self.made:
            lift.close()
        self.agents.close()


@pytest.fixture
def lifts(mqtt_broker: TestBroker, tmp_path: Path) -> Iterator[LiftFactory]:
    f = AgentFactory(mqtt_broker, tmp_path, site=SITE, kind="lift_guard", n=4)
    lf = LiftFactory(f)
    yield lf
    lf.close()


@pytest.fixture
def recorder(mqtt_broker: TestBroker, lifts: LiftFactory) -> Iterator[Recorder]:
    with Recorder(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, [f"linli/v1/{SITE}/#"]) as r:
        yield r
