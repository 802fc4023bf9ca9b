"""The taxi kiosk's background worker (``make_worker``, declared in ``server/taxi_kiosk/__init__.py``):
the provider chosen in ``kinds.taxi_kiosk.provider`` and the dispatcher, started after the broker link and stopped
before it."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from .dispatch import Dispatcher, DispatchMetrics
from .provider import NoProvider, TaxiProvider
from .settings import TaxiSettings, taxi_settings
from .simfleet import SimFleet

if TYPE_CHECKING:
    from server.app import Server


def make_provider(cfg: TaxiSettings) -> TaxiProvider:
    if cfg.provider == "sim":
        return SimFleet(cfg.sim)
    return NoProvider()


class TaxiService:
    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.cfg = taxi_settings(srv.settings.kinds)
        self.provider = make_provider(self.cfg)
        worker = f"{socket.gethostname()}:{os.getpid()}:{srv.settings.mqtt.client_id}"[:64]
        self.dispatcher = Dispatcher(srv.db, self._publish, self.provider, self.cfg, worker,
                                     DispatchMetrics(srv.metrics))
        self.started = False

    def _publish(self, topic: str, payload: bytes) -> bool:
        link = self.srv.link
        return link is not None and link.publish(topic, payload, qos=1)

    def start(self) -> None:
        self.provider.start()
        self.dispatcher.start()
        self.started = True

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        self.dispatcher.stop()
        self.provider.stop()


def make_worker(srv: Server) -> TaxiService:
    return TaxiService(srv)
