"""The charger's simulated world: a 10-port pile MCU and a meter on ptys, a card reader, a coin slot, residents.

The agent's ``hal.serial`` URLs are fixed at config time, and ptys get their ``/dev/pts/N`` names only when
made. So, as udev does on a Pi (``/dev/serial/by-id/…``), the simulator makes its ptys and then points the
configured paths at them with symlinks; the agent's serial ports open them like any device path (they retry
until the link appears). A configured path that exists and is not a symlink (a real device) is never touched.
Everything is driven from outside the HAL: serial bytes on the ptys and the coin input's pin level.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from edge.hal.config import HalConfig
from edge.hal.sim import PinBoard
from firmware_bridge.sim.clock import SimClock
from firmware_bridge.sim.dlt645_meter import Dlt645MeterSim
from firmware_bridge.sim.modbus_meter import ModbusMeterSim
from firmware_bridge.sim.pile_sim import PileSim
from firmware_bridge.sim.pty import PtyPair

from .config import ChargerConfig


def link_device(url: str, target: str) -> None:
    """Point the configured device path ``url`` at the pty ``target`` (a symlink, as udev makes)."""
    path = Path(url)
    if path.exists() and not path.is_symlink():
        raise RuntimeError(f"{url} is a real device or file; the simulator will not replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, path)


class ChargerWorld:
    """A pile, its meter, a card reader and a coin slot around one charger agent's config."""

    def __init__(self, hal: HalConfig, app: ChargerConfig, speed: float = 1.0, board: PinBoard | None = None) -> None:
        self.hal_cfg = hal
        self.app_cfg = app
        self.clock = SimClock(speed)
        self.pile = PileSim(app.ports, clock=self.clock)
        self.meter: Dlt645MeterSim | ModbusMeterSim | None = None
        if app.meter is not None:
            if app.meter.protocol == "dlt645":
                self.meter = Dlt645MeterSim(app.meter.address, source=self.pile.meter_values)
            else:
                self.meter = ModbusMeterSim(app.meter.map, source=self.pile.meter_values,
                                            device_id=app.meter.device_id)
        self.cards: PtyPair | None = PtyPair() if app.card_serial is not None else None
        self._board = board  # made when first used: the agent sets up the mock pin factory
        self.coin_pin = None
        if app.coin_input is not None:
            inp = hal.inputs[app.coin_input]
            self.coin_pin = inp.pin
            self.coin_level = inp.active_state if inp.active_state is not None else not inp.pull_up
            self.coin_hold_s = max(0.03, 2.5 * inp.bounce_ms / 1000)

    @property
    def board(self) -> PinBoard:
        if self._board is None:
            self._board = PinBoard()
        return self._board

    def paths(self) -> dict[str, str]:
        """hal.serial name → the pty the agent must open."""
        out = {self.app_cfg.mcu_serial: self.pile.device_path}
        if self.meter is not None and self.app_cfg.meter is not None:
            out[self.app_cfg.meter.serial] = self.meter.device_path
        if self.cards is not None and self.app_cfg.card_serial is not None:
            out[self.app_cfg.card_serial] = self.cards.device_path
        return out

    def start(self) -> ChargerWorld:
        self.pile.start()
        if self.meter is not None:
            self.meter.start()
        return self

    def link(self) -> None:
        for name, target in self.paths().items():
            link_device(self.hal_cfg.serial[name].url, target)

    def swipe(self, card: str) -> None:
        assert self.cards is not None, "no card reader configured"
        self.cards.write(card.encode("ascii") + b"\r\n")

    def insert_coins(self, n: int = 1) -> None:
        assert self.coin_pin is not None, "no coin input configured"
        for _ in range(n):
            self.board.set_input(self.coin_pin, self.coin_level)
            time.sleep(self.coin_hold_s)
            self.board.set_input(self.coin_pin, not self.coin_level)
            time.sleep(self.coin_hold_s)

    def stop(self) -> None:
        if self.meter is not None:
            self.meter.stop()
        self.pile.stop()
        if self.cards is not None:
            self.cards.close()

    def __enter__(self) -> ChargerWorld:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ residents (demo)
    def run(self, stop: threading.Event, every_s: float = 8.0, seed: int = 1) -> None:
        """Residents come and go: plug a bike or a phone, pay by card or coin, unplug later."""
        rng = random.Random(seed)
        loads = ["ebike_48v", "ebike_48v", "ebike_48v_li", "phone", "ebike_72v_modified"]
        while not stop.wait(every_s):
            n = rng.randrange(1, self.pile.port_count + 1)
            status = self.pile.port(n)
            if status.plugged:
                if rng.random() < 0.4:
                    self.pile.unplug(n)
                continue
            self.pile.plug(n, rng.choice(loads))
            if stop.wait(1.0):
                return
            if self.cards is not None and rng.random() < 0.5:
                self.swipe(f"A{rng.randrange(10**6, 10**7)}")
            elif self.coin_pin is not None:
                self.insert_coins(rng.randrange(1, 3))


def start_sim(agent: Any, stop: threading.Event, every_s: float = 8.0) -> threading.Thread:
    """``linli agent --sim``: a pile with residents charging, its configured serial paths linked to the ptys."""
    world = ChargerWorld(agent.cfg.hal, agent.app.cfg, speed=1.0).start()  # real time: bills match the clock
    world.link()

    def run() -> None:
        try:
            world.run(stop, every_s)
        finally:
            time.sleep(1.0)  # let the stopping agent switch the relays off before the pile goes away
            world.stop()

    t = threading.Thread(target=run, name="charger-sim", daemon=True)
    t.start()
    return t
