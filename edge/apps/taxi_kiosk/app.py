"""The taxi kiosk: a touch screen (served here, see ``kiosk/``) and a big physical button at a compound entrance;
one tap orders a taxi to the kiosk's own pick-up point. The logic is in ``orders.py``; this file wires it to the
hardware (button, speaker), the runtime (events out, ``order_update`` commands in, watchdog) and the pages."""

from __future__ import annotations

import threading
import time
from typing import Any

from edge.apps.base import App, AppContext, CommandRefused, CommandSpec
from linli.contract import Kind, Scalar
from linli.contract import taxi_kiosk as tc
from linli.i18n import Lang

from . import page
from .config import TaxiKioskConfig
from .journal import Journal
from .kiosk import KioskServer, create_app
from .kiosk.render import Renderer
from .orders import Kiosk
from .voice import Voice

LOOP = "taxi_kiosk"
PRUNE_EVERY_S = 3600.0


class TaxiKioskApp(App):
    kind = Kind.taxi_kiosk
    config_model = TaxiKioskConfig
    cfg: TaxiKioskConfig

    def __init__(self, ctx: AppContext, cfg: TaxiKioskConfig) -> None:
        super().__init__(ctx, cfg)
        self.journal = Journal(ctx.data_dir / "taxi.sqlite")
        self.voice = Voice(ctx.hal.speaker, cfg)
        self.kiosk = Kiosk(cfg, self.journal, ctx.emit, self.voice, ctx.link_up, ctx.logger)
        self.renderer = Renderer(cfg)
        self.page_server: KioskServer | None = None
        self.page_error = ""
        self.button_presses = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.cfg.button is not None:
            self.ctx.hal.inputs[self.cfg.button].on_change(self._button)
        self.ctx.watchdog.watch(LOOP)
        self._thread = threading.Thread(target=self._loop, name="taxi-kiosk", daemon=True)
        self._thread.start()
        server = KioskServer(create_app(self.kiosk, self.renderer), self.cfg.kiosk_page.host,
                             self.cfg.kiosk_page.port)
        try:
            server.start()
        except OSError as exc:  # the button and the voice still work; the maintenance page shows why
            self.page_error = str(exc)
            self.ctx.logger.error("kiosk screen page not started on %s:%s: %s", self.cfg.kiosk_page.host,
                                  self.cfg.kiosk_page.port, exc)
        else:
            self.page_server = server
            self.ctx.logger.info("kiosk screen page on %s", server.url)

    def stop(self) -> None:
        self._stop.set()
        self.ctx.watchdog.unwatch(LOOP)
        self.kiosk.close()
        if self.page_server is not None:
            self.page_server.stop()
        if self._thread is not None and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        self.journal.close()

    def _loop(self) -> None:
        pruned = time.monotonic()
        while not self._stop.wait(self.cfg.loop_interval_s):
            self.ctx.watchdog.kick(LOOP)
            try:
                self.kiosk.tick()
                if time.monotonic() - pruned > PRUNE_EVERY_S:
                    pruned = time.monotonic()
                    self.journal.prune()
            except Exception:
                self.ctx.logger.exception("taxi kiosk loop failed")

    # ------------------------------------------------------------------ the physical button
    def _button(self, name: str, active: bool) -> None:
        if not active or self._stop.is_set():
            return
        self.button_presses += 1
        did = self.kiosk.press_button()
        self.ctx.logger.info("button pressed: %s", did)

    # ------------------------------------------------------------------ commands
    def commands(self) -> dict[str, CommandSpec]:
        return {
            c.name: CommandSpec.of(c, fn) for c, fn in (
                (tc.ORDER_UPDATE_CMD, self.kiosk.apply_update), (tc.CANCEL_ORDER_CMD, self._cancel_order),
                (tc.TEST_VOICE_CMD, self._test_voice))
        }

    def _cancel_order(self, args: dict[str, Any]) -> dict[str, Any]:
        o = self.kiosk.staff_cancel()
        if o is None:
            raise CommandRefused("no order is under way")
        return {"order_id": o.id, "state": o.state}

    def _test_voice(self, args: dict[str, Any]) -> dict[str, Any]:
        self.kiosk.repeat_voice()
        return {"screen": self.kiosk.screen_name()}

    # ------------------------------------------------------------------ config and views
    def apply_config(self, cfg: TaxiKioskConfig) -> None:
        if cfg.button != self.cfg.button or cfg.kiosk_page != self.cfg.kiosk_page:
            raise ValueError("button and kiosk_page cannot change while running (edit the file and restart)")
        self.cfg = cfg
        self.kiosk.cfg = cfg
        self.voice.cfg = cfg
        self.renderer.cfg = cfg

    @property
    def page_url(self) -> str | None:
        return self.page_server.url if self.page_server is not None and self.page_server.running else None

    def gauges(self) -> dict[str, Scalar]:
        g: dict[str, Scalar] = dict(self.kiosk.gauges())
        g["kiosk_page_up"] = self.page_url is not None
        g["button_presses"] = self.button_presses
        return g

    def state(self) -> str:
        return self.kiosk.screen_name()

    def page_fragment(self, lang: Lang) -> str:
        snap = self.kiosk.snapshot()
        active = snap.order if snap.order is not None and snap.order.active else None
        return page.render(lang, screen=snap.screen, online=snap.online, page_url=self.page_url,
                           page_error=self.page_error or "—", active=active, gauges=self.kiosk.gauges(),
                           recent=self.journal.recent(8))
