"""The kiosk's simulated world (``linli agent --sim``, the demo): residents who walk up now and then, press the big
button or tap the screen, sometimes leave a phone number, sometimes change their mind and cancel.

Only the outside of the device is touched: the button's pin level (``PinBoard``) and the touch screen's page over
HTTP, exactly what a finger does on a Pi. The server's simulated fleet does the rest.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

import httpx

from edge.hal.config import HalConfig
from edge.hal.sim import PinBoard

from .config import TaxiKioskConfig

log = logging.getLogger(__name__)


class Resident:
    """One simulated resident at a time, using the kiosk as a person would."""

    def __init__(self, hal: HalConfig, app: TaxiKioskConfig, page_url: str | None, board: PinBoard | None = None,
                 rng: random.Random | None = None) -> None:
        self.board = board or PinBoard()
        self.page_url = page_url
        self.rng = rng or random.Random()
        self.button_pin = None
        if app.button is not None:
            inp = hal.inputs[app.button]
            self.button_pin = inp.pin
            self.active_level = inp.active_state if inp.active_state is not None else not inp.pull_up
            self.hold_s = max(0.05, 2.5 * inp.bounce_ms / 1000)
        self.calls = 0

    # ------------------------------------------------------------------ a finger on the kiosk
    def press(self) -> None:
        """Press and release the big button."""
        if self.button_pin is None:
            raise RuntimeError("this kiosk has no physical button")
        self.board.set_input(self.button_pin, self.active_level)
        time.sleep(self.hold_s)
        self.board.set_input(self.button_pin, not self.active_level)
        time.sleep(self.hold_s)

    def screen(self, client: httpx.Client) -> dict[str, Any]:
        return client.get("/screen", params={"v": -1}).json()  # type: ignore[no-any-return]

    def tap(self, client: httpx.Client, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return client.post(f"/api/{action}", json=body or {}).json()  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ one visit
    def visit(self, stop: threading.Event) -> None:
        """Walk up, call a taxi, wait for it (or give up), leave."""
        if self.page_url is None:
            if self.button_pin is not None:
                self.press()
            return
        with httpx.Client(base_url=self.page_url, timeout=10) as c:
            if self.screen(c)["screen"] not in ("idle", "cancelled", "no_driver", "unavailable", "no_show"):
                return  # someone else's order is on the screen
            if self.button_pin is not None and self.rng.random() < 0.5:
                self.press()
            else:
                self.tap(c, "call", {"key": f"sim-{self.rng.getrandbits(64):016x}"})
            self.calls += 1
            changes_mind = self.rng.random() < 0.15
            if self.rng.random() < 0.3:
                shown = self.tap(c, "ui", {"mode": "phone"})
                order_id = _order_id(shown)
                if order_id:
                    self.tap(c, "phone", {"order_id": order_id, "phone": f"139{self.rng.randrange(10**8):08d}"})
            deadline = time.monotonic() + self.rng.uniform(8, 25) if changes_mind else None
            while not stop.wait(1.0):
                now = self.screen(c)["screen"]
                if now in ("idle", "picked_up", "no_driver", "unavailable", "no_show", "cancelled", "limit"):
                    if now in ("no_driver", "unavailable", "no_show", "limit"):
                        self.tap(c, "dismiss")
                    return
                if deadline is not None and time.monotonic() > deadline and now in ("calling", "assigned"):
                    self.tap(c, "ui", {"mode": "confirm_cancel"})
                    self.tap(c, "cancel")
                    return

    def run(self, stop: threading.Event, every_s: tuple[float, float] = (20.0, 60.0)) -> None:
        while not stop.wait(self.rng.uniform(*every_s)):
            try:
                self.visit(stop)
            except (httpx.HTTPError, ValueError, RuntimeError) as exc:
                log.warning("simulated resident: %s", exc)


def _order_id(shown: dict[str, Any]) -> str | None:
    html = str(shown.get("html", ""))
    marker = 'data-order="'
    i = html.find(marker)
    return html[i + len(marker): i + len(marker) + 26] if i >= 0 else None


def start_sim(agent: Any, stop: threading.Event, every_s: tuple[float, float] = (20.0, 60.0)) -> threading.Thread:
    """``linli agent --sim``: residents call a taxi every 20–60 s."""
    resident = Resident(agent.cfg.hal, agent.app.cfg, agent.app.page_url)
    t = threading.Thread(target=resident.run, args=(stop, every_s), name="taxi-kiosk-sim", daemon=True)
    t.start()
    return t
