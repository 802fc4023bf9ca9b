"""The probe's simulated world: a finger on the button, an eye on the relay — through the pins only."""

from __future__ import annotations

import threading
import time
from typing import Any

from edge.hal.config import HalConfig
from edge.hal.sim import PinBoard

from .config import ProbeConfig


class ProbeSim:
    """Presses the probe's button and reads its relay by driving/reading mock pin levels (``PinBoard``)."""

    def __init__(self, hal: HalConfig, app: ProbeConfig, board: PinBoard | None = None) -> None:
        self.board = board or PinBoard()
        inp = hal.inputs[app.button]
        self.button_pin = inp.pin
        self.active_level = inp.active_state if inp.active_state is not None else not inp.pull_up
        rel = hal.relays[app.output]
        self.relay_pin = rel.pin
        self.relay_active_high = rel.active_high
        self.hold_s = max(0.03, 2.5 * inp.bounce_ms / 1000)

    def press(self) -> None:
        self.board.set_input(self.button_pin, self.active_level)

    def release(self) -> None:
        self.board.set_input(self.button_pin, not self.active_level)

    def click(self, hold_s: float | None = None) -> None:
        """Press, hold, release (and wait out the debounce time so the next click counts)."""
        hold = hold_s if hold_s is not None else self.hold_s
        self.press()
        time.sleep(hold)
        self.release()
        time.sleep(hold)

    def relay_on(self) -> bool:
        """What the relay coil sees: energised or not."""
        return self.board.output_level(self.relay_pin) == self.relay_active_high

    def run(self, stop: threading.Event, every_s: float = 5.0) -> None:
        """Click every ``every_s`` seconds until ``stop`` is set (for the demo)."""
        while not stop.wait(every_s):
            self.click()


def start_sim(agent: Any, stop: threading.Event, every_s: float = 5.0) -> threading.Thread:
    """``linli agent --sim``: someone presses the probe's button every few seconds."""
    sim = ProbeSim(agent.cfg.hal, agent.app.cfg)
    t = threading.Thread(target=sim.run, args=(stop, every_s), name="probe-sim", daemon=True)
    t.start()
    return t
