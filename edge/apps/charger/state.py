"""What the pile controller knows between polls, and the two acts every part of it uses: raising an alarm
(``charger.fault``) and switching a relay (confirmed by the MCU).

The controller is split by concern, one module each, all working on this state under :attr:`PileState.lock`:
``sessions`` (start, stop, bill, settle), ``safety`` (the cut-offs), ``mcu_events`` (what the MCU reports),
``meter_checks`` (the feeder meter), ``inputs`` (coins and cards), ``restore`` (after a restart) and ``pile``
(the poll that drives them, and the controller's public face).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from edge.apps.base import Emit
from firmware_bridge.errors import BridgeError
from firmware_bridge.pile.client import PileClient
from firmware_bridge.pile.messages import PileEvent
from linli.contract import charger as cc

from .config import ChargerConfig
from .journal import Journal
from .meter import PileMeter
from .port import PortView
from .tariff import Tariff

log = logging.getLogger(__name__)

class StartRefused(Exception):
    """A start that cannot be done; the message says why (shown to staff, sent as the command's error)."""


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class PileState:
    """The controller's state; :class:`edge.apps.charger.pile.PileController` fills it in."""

    cfg: ChargerConfig
    journal: Journal
    emit: Emit
    now: Callable[[], float]
    device: str
    lock: threading.RLock  # every part runs under it; the MCU reader thread never takes it
    wake: threading.Event  # set to poll now (smoke, a plug) rather than at the next interval
    ports: list[PortView]
    mcu: PileClient
    meter: PileMeter | None
    _mcu_events: list[PileEvent]  # queued by the reader thread under _ev_lock
    _ev_lock: threading.Lock
    mcu_ok: bool
    mcu_ready: bool  # HELLO done since the last loss
    mcu_info: dict[str, Any]
    mcu_last_ok: float
    mcu_lost_reported: bool
    meter_lost_reported: bool
    last_meter_read: float
    smoke: bool
    pile_power_w: float
    last_heartbeat: float
    last_journal: float
    pending_payment: dict[str, Any] | None
    coin_count: int
    coin_last: float
    restored: bool
    counts: dict[str, int]
    cycle_ms: float
    polls: int

    @property
    def tariff(self) -> Tariff:
        return self.cfg.tariff

    def port(self, n: int) -> PortView:
        if not 1 <= n <= len(self.ports):
            raise StartRefused(f"no port {n} (ports 1-{len(self.ports)})")
        return self.ports[n - 1]

    def _fault(self, fault: str, port: int | None, detail: str, active: bool = True,
               value: float | None = None) -> None:
        """Report a fault (or its clearing); its severity is the contract's rule for the fault kind."""
        data = cc.Fault(fault=fault, port=port, active=active, detail=detail[:500], value=value)  # type: ignore[arg-type]
        self.emit(data)

    def _relay(self, n: int, on: bool) -> bool:
        """Switch a relay; True when the MCU confirmed it. Failures are left to the loss detection."""
        try:
            ack = self.mcu.set_relay(n, on)
        except BridgeError as e:
            log.warning("port %s: relay %s failed: %s", n, "on" if on else "off", e)
            return False
        p = self.ports[n - 1]
        p.relay_on, p.live = ack.requested, ack.actual
        if ack.actual != on:
            self._fault("relay_mismatch", n, f"relay asked {'on' if on else 'off'}, outlet "
                                             f"{'live' if ack.actual else 'dead'}")
        return ack.actual == on
