"""A pedestrian door (门禁): card / QR / exit button / remote unlock of a lock relay for ``unlock_s`` seconds,
door-held-open and forced-open alarms from the door contact, and the fire-alarm input that unlocks and keeps the
door unlocked while it is active (fire linkage must also be wired in hardware: this is the second path).

Credentials are checked on the device: cards against the synced card list (with validity), QR codes by their
HMAC signature and expiry (``linli.gate.qr``), so the door works with the server away.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from edge.apps.base import Emit
from edge.hal import Input, Relay, SerialPort
from edge.hal.cardreader import CardReader, Credential, mask_card
from linli.contract.gate import DoorAccess, DoorData, DoorFire, DoorForcedOpen, DoorHeldOpen
from linli.gate import qr

from .config import DoorConfig
from .store import GateStore

log = logging.getLogger(__name__)


class Door:
    def __init__(self, cfg: DoorConfig, site: str, store: GateStore, lock: Relay, exit_button: Input | None,
                 contact: Input | None, fire: Input | None, reader: SerialPort | None, emit: Emit,
                 now: Callable[[], datetime], mono: Callable[[], float], say: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.site = site
        self.store = store
        self.lock = lock
        self.contact = contact
        self.fire_input = fire
        self.reader = CardReader(f"door-{cfg.name}", reader, cfg.card_format, self._credential,
                                 lambda _e: self._reader_error()) if reader is not None else None
        self.emit = emit
        self.now = now
        self.mono = mono
        self.say = say
        self.recent: deque[dict[str, Any]] = deque(maxlen=30)
        self.counts = {"granted": 0, "denied": 0, "alarms": 0, "reader_errors": 0}
        self._lock = threading.RLock()
        self._grant_until = 0.0
        self._open_since: float | None = None
        self._held_reported = False
        self._fire = bool(fire.is_active) if fire is not None else False
        self._stop = threading.Event()
        if exit_button is not None:
            exit_button.on_change(lambda _n, a: a and self.unlock("button", None, None, "exit_button"))
        if contact is not None:
            contact.on_change(lambda _n, a: self._contact(a))
            if contact.is_active:
                self._open_since = mono()
        if fire is not None:
            fire.on_change(lambda _n, a: self._fire_changed(a))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._fire:
            self._fire_changed(True)
        if self.reader is not None:
            self.reader.start()

    def stop(self) -> None:
        self._stop.set()
        self.lock.off()
        if self.reader is not None:
            self.reader.stop()

    # ------------------------------------------------------------------ events
    def _event(self, model: type[DoorData], **data: Any) -> None:
        ev = model(door=self.cfg.name, at=self.now(), **{k: v for k, v in data.items() if v is not None})
        self.emit(ev)
        self.recent.appendleft({"type": model.EVENT.type, **{k: v for k, v in ev.to_data().items() if v is not None}})

    def unlock(self, method: str, credential: str | None, label: str | None, reason: str,
               by: str | None = None) -> None:
        with self._lock:
            if not self._fire:
                self.lock.pulse(self.cfg.unlock_s)
            self._grant_until = self.mono() + self.cfg.unlock_s + self.cfg.forced_grace_s
            self.counts["granted"] += 1
        self._event(DoorAccess, method=method, credential=credential, granted=True, reason=reason,
                    label=label or None, by=by)

    def deny(self, method: str, credential: str | None, reason: str) -> None:
        self.counts["denied"] += 1
        self._event(DoorAccess, method=method, credential=credential, granted=False, reason=reason)
        self.say("无效凭证，请联系物业")

    def present(self, cred: Credential) -> bool:
        """A card or QR code shown at the reader. True when the door unlocked."""
        now = self.now()
        if cred.kind == "qr":
            try:
                g = qr.verify(cred.value, self.store.settings.qr_keys, self.site, self.cfg.name, now)
            except qr.QrError as exc:
                reason = "qr_expired" if "expired" in str(exc) else "qr_invalid"
                self.deny("qr", None, reason)
                return False
            self.unlock("qr", f"key {g.kid}", None, "qr_valid")
            return True
        entry = self.store.card(cred.value)
        masked = mask_card(cred.value)
        if entry is None:
            self.deny("card", masked, "card_unknown")
            return False
        if not entry.valid_at(now):
            self.deny("card", masked, "card_expired")
            return False
        self.unlock("card", masked, entry.label, "card_valid")
        return True

    def _contact(self, open_: bool) -> None:
        with self._lock:
            if open_:
                self._open_since = self.mono()
                self._held_reported = False
                forced = not self._fire and self.mono() > self._grant_until
            else:
                self._open_since = None
                forced = False
        if forced:
            self.counts["alarms"] += 1
            self._event(DoorForcedOpen, reason="opened_without_unlock")

    def _fire_changed(self, active: bool) -> None:
        with self._lock:
            self._fire = active
            if active:
                self.lock.on()
            else:
                self.lock.off()
        self.counts["alarms"] += int(active)
        self._event(DoorFire, method="fire",
                    reason="fire_alarm_unlocked" if active else "fire_alarm_cleared")

    def tick(self) -> None:
        with self._lock:
            since = self._open_since
            report = (since is not None and not self._held_reported and not self._fire
                      and self.mono() - since >= self.cfg.held_open_s)
            if report:
                self._held_reported = True
        if report:
            self.counts["alarms"] += 1
            self._event(DoorHeldOpen, reason="held_open", seconds=round(self.mono() - since, 1))

    # ------------------------------------------------------------------ reader
    def _reader_error(self) -> None:
        self.counts["reader_errors"] += 1

    def _credential(self, cred: Credential) -> None:
        if not self._stop.is_set():
            self.present(cred)

    # ------------------------------------------------------------------ views
    @property
    def fire(self) -> bool:
        return self._fire

    def view(self) -> dict[str, Any]:
        return {"name": self.cfg.name, "unlocked": self.lock.is_on, "fire": self._fire,
                "open": self._open_since is not None, "recent": list(self.recent)[:10], "counts": dict(self.counts)}
