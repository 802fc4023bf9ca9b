"""The lift guard's simulated world: a lift that stops at floors, and the camera picture of its car.

Only the outside of the hardware layer is driven, as on a real lift:

- the camera is a video file written from a scene clip (``config/lift_guard_scenes.yaml``, clip ``demo``) and
  played in a loop by ``edge.hal.Camera``;
- the lift controller's door-open contact (an input pin) follows the clip's door state — except that while the
  hold relay is energised the door stays open, as the real door does when its open button is held;
- the relay's auxiliary contact (its read-back pin, when configured) follows the relay coil.

The clip position comes from the camera's delivered-frame count (what the local page's IO tab shows), so the door
and the picture stay in step.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from edge.hal.config import HalConfig
from edge.hal.sim import PinBoard

from .config import LiftGuardConfig
from .scenes import Clip, load_scenes, write_clip

log = logging.getLogger(__name__)
SCENES = Path(__file__).resolve().parents[3] / "config" / "lift_guard_scenes.yaml"


class LiftSim:
    """Door contact and relay read-back of one lift guard, driven through the mock pins."""

    def __init__(self, hal: HalConfig, app: LiftGuardConfig, board: PinBoard | None = None) -> None:
        self.board = board or PinBoard()
        door = hal.inputs[app.door_input]
        self.door_pin = door.pin
        self.door_active_level = door.active_state if door.active_state is not None else not door.pull_up
        self.inhibit_pins = {name: (hal.inputs[name].pin,
                                    hal.inputs[name].active_state if hal.inputs[name].active_state is not None
                                    else not hal.inputs[name].pull_up) for name in app.inhibit_names}
        relay = hal.relays[app.hold_relay]
        self.relay_pin = relay.pin
        self.relay_active_high = relay.active_high
        self.readback_pin = relay.readback_pin
        self.readback_active_high = relay.readback_active_high
        self.readback_stuck: bool | None = None  # set to simulate a welded (True) or dead (False) relay
        self.held_open = False
        self.door_is_open = False

    def relay_on(self) -> bool:
        """What the relay coil sees: energised or not."""
        return self.board.output_level(self.relay_pin) == self.relay_active_high

    def set_door(self, open_: bool) -> None:
        self.door_is_open = open_
        self.board.set_input(self.door_pin, self.door_active_level if open_ else not self.door_active_level)

    def set_inhibit(self, name: str, active: bool) -> None:
        pin, level = self.inhibit_pins[name]
        self.board.set_input(pin, level if active else not level)

    def mirror_readback(self) -> None:
        if self.readback_pin is None:
            return
        closed = self.relay_on() if self.readback_stuck is None else self.readback_stuck
        self.board.set_input(self.readback_pin, self.readback_active_high if closed else not self.readback_active_high)

    def step(self, door_wanted: bool) -> None:
        """One control step of the lift: the door follows the floor schedule unless the hold relay keeps it open."""
        self.mirror_readback()
        held = self.relay_on()
        want = door_wanted or (held and self.door_is_open)
        self.held_open = held and not door_wanted
        if want != self.door_is_open:
            self.set_door(want)


def ensure_clip(path: Path, clip: Clip, fps: float, size: tuple[int, int], scenes: Path = SCENES) -> Path:
    """Write the clip's video unless an up-to-date one is there (written to a temporary name, then renamed, so the
    camera never opens a half-written file)."""
    if path.exists() and path.stat().st_mtime >= scenes.stat().st_mtime:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    write_clip(tmp, clip, fps, size)
    os.replace(tmp, path)
    return path


def run(agent: Any, sim: LiftSim, clip: Clip, fps: float, stop: threading.Event, clip_name: str) -> None:
    camera = agent.hal.cameras[agent.app.cfg.camera]
    timeline = clip.door_timeline()
    total = timeline[-1][1]
    n_frames = max(1, round(total * fps))
    while not stop.wait(0.05):
        try:
            pos = (camera.frames % n_frames) / fps
            door = next((d for a, b, d in timeline if a <= pos < b), timeline[-1][2])
            sim.step(door)
        except Exception:  # the sim must never take the agent down
            log.exception("lift sim (%s) step failed", clip_name)


def start_sim(agent: Any, stop: threading.Event, clip_name: str = "demo") -> threading.Thread:
    """``linli agent --sim``: write the demo clip where the camera looks, then run the lift."""
    cfg: LiftGuardConfig = agent.app.cfg
    cam_cfg = agent.cfg.hal.cameras[cfg.camera]
    scenes = load_scenes(SCENES)
    clip = scenes.clips[clip_name]
    size = (cam_cfg.width or scenes.width, cam_cfg.height or scenes.height)
    if isinstance(cam_cfg.source, str) and not cam_cfg.source.lower().startswith(("rtsp://", "http")):
        ensure_clip(Path(cam_cfg.source), clip, cam_cfg.fps, size)
    sim = LiftSim(agent.cfg.hal, cfg)
    sim.set_door(False)
    for name in cfg.inhibit_names:
        sim.set_inhibit(name, False)
    t = threading.Thread(target=run, args=(agent, sim, clip, cam_cfg.fps, stop, clip_name), name="lift-sim",
                         daemon=True)
    t.start()
    return t
