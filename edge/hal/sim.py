"""The simulator's side of the hardware boundary: it only drives what a real Pi would see from outside.

- :class:`PinBoard` sets the physical level of input pins and reads the level of output pins on the
  gpiozero MockFactory in use; the agent's ``Relay`` and ``Input`` objects are the ones it runs on a Pi.
- :func:`make_scene_video` writes a video file that a ``Camera`` reads like any other source.
- Serial devices are simulated on the far end of a pty: see ``firmware_bridge.sim.pty``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPin, PinState

from edge.hal.config import PinId
from edge.hal.errors import HalError, PinError
from edge.hal.pins import factory_name


class PinBoard:
    """Drives the outside of the pins of a gpiozero MockFactory (by default the one in use)."""

    def __init__(self, factory: MockFactory | None = None) -> None:
        factory = factory if factory is not None else Device.pin_factory
        if not isinstance(factory, MockFactory):
            raise HalError(
                f"PinBoard needs gpiozero's MockFactory, but the pin factory is {factory_name(factory)!r} "
                "(set GPIOZERO_PIN_FACTORY=mock or HalConfig.pin_factory='mock')"
            )
        self.factory = factory

    def pin(self, pin: PinId) -> MockPin:
        """The mock pin behind a pin number or name (17, 'GPIO17', 'BOARD11')."""
        try:
            return self.factory.pin(pin)
        except Exception as e:
            raise PinError(f"no pin {pin!r} on the simulated board: {e}") from e

    def set_input(self, pin: PinId, level: bool) -> None:
        """Drive the physical level of an input pin (True = high), as a contact or sensor would."""
        p = self.pin(pin)
        if p.function != "input":
            raise PinError(f"pin {pin!r} is an output: the simulator cannot drive it")
        if level:
            p.drive_high()
        else:
            p.drive_low()

    def output_level(self, pin: PinId) -> bool:
        """Physical level of a pin (True = high): what a relay coil driver sees."""
        return bool(self.pin(pin).state)

    def history(self, pin: PinId) -> list[PinState]:
        """The pin's level changes so far: (seconds since the previous change, level) pairs."""
        return list(self.pin(pin).states)

    def clear_history(self, pin: PinId) -> None:
        self.pin(pin).clear_states()


def _default_painter(size: tuple[int, int]) -> Callable[[np.ndarray, int], None]:
    w, h = size
    rng = np.random.default_rng(7)
    texture = np.clip(128 + rng.normal(0, 12, (h, w, 1)), 0, 255).astype(np.uint8)
    bw, bh = max(8, w // 6), max(8, h // 4)

    def paint(img: np.ndarray, i: int) -> None:
        img[:] = texture
        x = (i * max(2, w // 40)) % max(1, w - bw)
        y = h // 2 - bh // 2
        cv2.rectangle(img, (x, y), (x + bw, y + bh), (40, 90, 220), thickness=-1)
        cv2.putText(
            img, f"#{i}", (8, max(20, h // 12)), cv2.FONT_HERSHEY_SIMPLEX, max(0.4, h / 480), (255, 255, 255), 2
        )

    return paint


def make_scene_video(
    path: str,
    frames: int,
    fps: float = 5.0,
    size: tuple[int, int] = (640, 480),
    painter: Callable[[np.ndarray, int], None] | None = None,
) -> str:
    """Write an mp4v video of ``frames`` generated frames (``size`` is width, height) and return its path.

    ``painter(image, index)`` draws frame ``index`` into a BGR image; the default is a rectangle moving
    across a grey textured background with the frame number in the corner.
    """
    if frames < 1:
        raise ValueError("make_scene_video: frames must be >= 1")
    w, h = size
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise HalError(f"make_scene_video: OpenCV cannot write an mp4v video to {out}")
    paint = painter or _default_painter(size)
    try:
        img = np.zeros((h, w, 3), np.uint8)
        for i in range(frames):
            paint(img, i)
            writer.write(img)
    finally:
        writer.release()
    return str(out)
