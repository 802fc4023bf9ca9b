"""The kiosk's logic: one order at a time, from the tap to the ride, every step journalled before it is shown.

Screens (what the resident sees; one decision each)::

    idle ──tap/button──▶ calling ──driver──▶ assigned ──close──▶ arriving ──in the car──▶ picked_up ──▶ idle
                           │  ▲ driver cancelled: calling again      │                        (20 s)
                           │  └──────────────────────────────────────┘
                           ├─▶ no_driver / unavailable (hotline + "try again")  ──▶ idle (2 min or "no, thanks")
                           └─ cancel (asks "cancel the taxi?" first) ──▶ cancelled ──▶ idle (8 s)

plus the questions ``confirm_cancel`` and ``phone`` (optional call-back number) and ``limit`` (too many calls).

Rules kept here, whatever the input (screen taps, the physical button, the server's ``order_update`` commands):

- one active order per kiosk: a second call while one is active returns that order; a call repeated with the same
  idempotency key returns the order it made (also after the order has ended) — a double tap never makes two orders;
- the server's updates carry a per-order ``seq``; older or repeated ones are ignored, and nothing moves an order
  that has ended here (cancelled by the resident, or given up after ``no_answer_s`` without a word from the server);
- after a reboot, the journal brings back the same order and screen; after a reconnect (and at start, and when an
  active order has had no news for ``sync_after_s``) the kiosk asks the server to send the state again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from edge.apps.base import Emit
from linli.contract import new_id
from linli.contract.taxi_kiosk import (
    TERMINAL_STATES,
    OrderCancel,
    OrderPhone,
    OrderRequested,
    OrderState,
    OrderSync,
    OrderUpdate,
)
from linli.i18n import SHANGHAI, Lang

from .config import TaxiKioskConfig
from .journal import REQUESTED, Journal, KioskOrder
from .voice import Voice

UI_MODES = ("confirm_cancel", "phone", "limit")
FAILED = ("no_driver", "unavailable", "no_show")
#: Screens after which nobody is standing at the kiosk any more: going back to idle says nothing.
_SILENT_RETURN = ("picked_up", "no_show")


@dataclass(frozen=True)
class Snapshot:
    """Everything a screen needs, taken under the lock."""

    screen: str
    order: KioskOrder | None
    online: bool
    lang: Lang
    version: int
    now: float


@dataclass(frozen=True)
class CallResult:
    order: KioskOrder | None
    created: bool
    refused: str | None = None


class Kiosk:
    def __init__(self, cfg: TaxiKioskConfig, journal: Journal, emit: Emit, voice: Voice,
                 link_up: Callable[[], bool], logger: logging.Logger | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.journal = journal
        self.emit = emit
        self.voice = voice
        self.link_up = link_up
        self.log = logger or logging.getLogger(__name__)
        self.now = now
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self.version = 1
        self._closed = False
        self.order: KioskOrder | None = journal.latest()
        self.ui: str | None = None
        self._ui_since = 0.0
        self.lang: Lang = "zh"
        self._touched = time.monotonic()
        self.online = False
        self._screen_key: tuple[Any, ...] | None = None
        self._announced: tuple[Any, ...] | None = None
        self._announced_at = 0.0
        self._offline_said = 0.0
        self._last_sync = 0.0
        self.counts = {"calls": 0, "duplicates": 0, "refused": 0, "cancels": 0, "updates": 0, "stale_updates": 0}
        if self.order is not None and self.order.active:
            self.log.info("resuming order %s (%s) from the journal", self.order.id, self.order.state)
        # the first screen: announced only when an order is under way (a waiting resident hears where it stands)
        self._screen_key = self._key()
        if self.order is not None and self.order.active:
            self._announce(force=True)
        else:
            self._announced = self._screen_key

    # ------------------------------------------------------------------ what is shown
    def _active(self) -> KioskOrder | None:
        o = self.order
        return o if o is not None and o.active else None

    def screen_name(self) -> str:
        with self._lock:
            return self._screen(self.now())

    def _screen(self, now: float) -> str:
        o = self.order
        if self.ui is not None:
            return self.ui
        if o is None:
            return "idle"
        if o.active:
            return "calling" if o.state in (REQUESTED, OrderState.searching.value) else o.state
        if o.dismissed or o.ended is None:
            return "idle"
        show = {"picked_up": self.cfg.timing.picked_up_show_s, "cancelled": self.cfg.timing.cancelled_show_s
                }.get(o.state, self.cfg.timing.failed_show_s)  # failures (with "try again") stay longer
        return o.state if now - o.ended < show else "idle"

    def _key(self) -> tuple[Any, ...]:
        """Changes whenever the resident should hear something new."""
        screen = self._screen(self.now())
        o = self.order
        oid = o.id if o is not None else None
        if screen == "calling":
            return (screen, oid, o.note if o else None)
        if screen == "assigned" and o is not None:
            return (screen, oid, (o.info.get("driver") or {}).get("plate"))
        if screen == "arriving" and o is not None:
            return (screen, oid, (o.info.get("distance_m") or 0) <= 30)
        return (screen, oid if screen != "idle" else None)

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = self.now()
            o = replace(self.order) if self.order is not None else None
            return Snapshot(self._screen(now), o, self.online, self.lang, self.version, now)

    def wait_change(self, version: int, timeout: float) -> int:
        """Block until the version differs from ``version`` (or the timeout); returns the current version."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != version or self._closed, timeout)
            return self.version

    def close(self) -> None:
        """Wake every waiting screen (the agent is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _changed_now(self) -> None:
        """Something visible changed: new version, wake the screens, and speak if the screen is a new one."""
        self.version += 1
        self._changed.notify_all()
        key = self._key()
        previous, self._screen_key = self._screen_key, key
        if key != self._announced:
            silent = key[0] == "idle" and previous is not None and previous[0] in _SILENT_RETURN
            self._announce(silent=silent)

    def _announce(self, force: bool = False, silent: bool = False) -> None:
        key = self._key()
        if key == self._announced and not force:
            return
        self._announced = key
        self._announced_at = time.monotonic()
        if silent:
            return
        o = self.order
        info = o.info if o is not None else {}
        note = o.note if o is not None else None
        try:
            self.voice.say(key[0], info, note, self.lang)
        except Exception:  # the speaker never stops the kiosk
            self.log.exception("voice prompt failed")

    # ------------------------------------------------------------------ actions (screen, button, staff)
    def call(self, source: str, request_key: str | None = None) -> CallResult:
        """A resident asks for a taxi. Never makes a second active order; the same key never makes two orders."""
        with self._lock:
            self._touch()
            active = self._active()
            if active is not None:
                self.counts["duplicates"] += 1
                return CallResult(active, False)
            if request_key:
                earlier = self.journal.by_key(request_key)
                if earlier is not None:
                    self.counts["duplicates"] += 1
                    return CallResult(earlier, False)
            now = self.now()
            if self.journal.count_since(now - 3600) >= self.cfg.max_orders_per_hour:
                self.counts["refused"] += 1
                self.log.warning("call refused: %d orders in the last hour", self.cfg.max_orders_per_hour)
                self._set_ui("limit")
                return CallResult(None, False, "limit")
            if self.order is not None and not self.order.dismissed:
                self.order.dismissed = True
                self.journal.save(self.order)
            order = KioskOrder(id=new_id(), request_key=request_key or new_id(), source=source, state=REQUESTED,
                               created=now, updated=now)
            data = OrderRequested(order_id=order.id, request_key=order.request_key, source=source,  # type: ignore[arg-type]
                                  place=self.cfg.place.to_place(), requested_at=datetime.fromtimestamp(now, UTC),
                                  elderly_priority=self.cfg.elderly_priority)
            self.journal.save(order, REQUESTED, {"source": source})
            self.order = order
            self.ui = None
            self.counts["calls"] += 1
            self.emit(data)
            self.log.info("order %s requested (%s)", order.id, source)
            self._changed_now()
            return CallResult(order, True)

    def cancel(self, reason: str = "resident") -> KioskOrder | None:
        """Cancel the active order (before pick-up). Returns it, or None when there was none."""
        with self._lock:
            self._touch()
            o = self._active()
            if o is None:
                self.ui = None
                self._changed_now()
                return None
            self._end(o, "cancelled", reason, reason)
            self.counts["cancels"] += 1
            return o

    def _end(self, o: KioskOrder, state: str, note: str, cancel_reason: str) -> None:
        now = self.now()
        o.state, o.note, o.ended, o.updated = state, note, now, now
        self.journal.save(o, state, {"by": "kiosk", "reason": note})
        self.emit(OrderCancel(order_id=o.id, reason=cancel_reason))  # type: ignore[arg-type]
        self.log.info("order %s %s (%s)", o.id, state, note)
        self.ui = None
        self._changed_now()

    def set_phone(self, order_id: str, phone: str) -> str | None:
        """Add a call-back number to the active order. Returns an error word, or None when it was taken."""
        with self._lock:
            self._touch()
            o = self._active()
            if o is None or o.id != order_id:
                return "no_active_order"
            if not self.cfg.allow_phone:
                return "not_offered"
            try:
                data = OrderPhone(order_id=o.id, phone=phone)
            except ValidationError:
                return "invalid"
            o.phone = data.phone
            self.journal.save(o, "phone", {})
            self.emit(data)
            self.ui = None
            self._changed_now()
            return None

    def set_ui(self, mode: str | None) -> bool:
        """Open (or close, with None) a question screen. Refused when it makes no sense now."""
        with self._lock:
            self._touch()
            if mode is not None:
                if mode not in ("confirm_cancel", "phone") or self._active() is None:
                    return False
                if mode == "phone" and (not self.cfg.allow_phone or self._active().phone):  # type: ignore[union-attr]
                    return False
            self._set_ui(mode)
            return True

    def keep_question(self) -> bool:
        """The resident is still answering (a key on the phone keypad): the question's time starts again. Nothing
        is redrawn, so what they typed stays on the screen."""
        with self._lock:
            self._touch()
            if self.ui is None:
                return False
            self._ui_since = time.monotonic()
            return True

    def _set_ui(self, mode: str | None) -> None:
        self.ui = mode
        self._ui_since = time.monotonic()
        self._changed_now()

    def dismiss(self) -> None:
        """Leave an ended order's screen (or a question) for the start screen."""
        with self._lock:
            self._touch()
            self.ui = None
            if self.order is not None and not self.order.active and not self.order.dismissed:
                self.order.dismissed = True
                self.journal.save(self.order)
            self._changed_now()

    def set_lang(self, lang: Lang) -> None:
        with self._lock:
            self._touch()
            if lang != self.lang:
                self.lang = lang
                self._changed_now()
                self._announce(force=True)

    def repeat_voice(self) -> None:
        with self._lock:
            self._touch()
            self._announce(force=True)

    def press_button(self) -> str:
        """The big physical button: the main action of the screen shown. Returns what it did."""
        with self._lock:
            screen = self._screen(self.now())
            if screen in ("idle", "cancelled", "picked_up", *FAILED):
                res = self.call("button", new_id())
                return "call" if res.created else (res.refused or "duplicate")
            if screen in ("confirm_cancel", "phone"):  # the safe answer: keep waiting / skip the number
                self.set_ui(None)
                return "keep_waiting"
            self.repeat_voice()
            return "repeat"

    def _touch(self) -> None:
        self._touched = time.monotonic()

    # ------------------------------------------------------------------ the server's side
    def apply_update(self, u: OrderUpdate) -> dict[str, Any]:
        """An ``order_update`` command. Returns the command result (applied or why not)."""
        with self._lock:
            o = self.order if self.order is not None and self.order.id == u.order_id else self.journal.get(u.order_id)
            if o is None:
                return {"applied": False, "why": "unknown_order"}
            if u.seq <= o.seq:
                self.counts["stale_updates"] += 1
                return {"applied": False, "why": "old_seq", "seq": o.seq}
            now = self.now()
            o.seq, o.last_news = u.seq, now
            if not o.active:  # ended here (cancelled, given up): nothing moves it any more
                self.journal.save(o)
                return {"applied": False, "why": "ended_here", "state": o.state}
            before = o.state
            o.info = u.model_dump(mode="json", exclude={"order_id", "seq"})
            o.note = u.note
            o.state, o.updated = u.state.value, now
            if u.state in TERMINAL_STATES:
                o.ended = now
            self.journal.save(o, o.state if o.state != before else None,
                              {"seq": u.seq, "note": u.note} if o.state != before else None)
            self.counts["updates"] += 1
            if self.order is o:  # (an older order from the journal is never active: see above)
                if u.state in TERMINAL_STATES:
                    self.ui = None
                self._changed_now()
            return {"applied": True, "state": o.state}

    def _sync(self, o: KioskOrder, why: str) -> None:
        self._last_sync = self.now()
        self.emit(OrderSync(order_id=o.id, seq=o.seq))
        self.log.info("order %s: asked the server for its state (%s)", o.id, why)

    def staff_cancel(self) -> KioskOrder | None:
        return self.cancel("staff")

    # ------------------------------------------------------------------ the loop
    def tick(self) -> None:
        """Time limits, the network, repeated prompts. Called every ``loop_interval_s``."""
        with self._lock:
            now = self.now()
            mono = time.monotonic()
            t = self.cfg.timing
            online = bool(self.link_up())
            o = self._active()
            if online != self.online:
                self.online = online
                self._changed_now()
                if online and o is not None:
                    self._sync(o, "reconnected")
                elif not online and o is not None and mono - self._offline_said > 60:
                    self._offline_said = mono
                    self.voice.say("offline", {}, None, self.lang)
            if o is not None:
                news = o.last_news or o.created
                waiting = o.state in (REQUESTED, OrderState.searching.value)
                if now - news > (t.no_answer_s if waiting else 6 * t.no_answer_s):
                    self._end(o, "unavailable", "no_answer", "no_answer")
                elif online and now - max(news, self._last_sync) > t.sync_after_s:
                    self._sync(o, "no news")
            if self.ui is not None and mono - self._ui_since > (t.failed_show_s if self.ui == "limit"
                                                                 else t.confirm_timeout_s):
                self.ui = None
                self._changed_now()
            key = self._key()
            if key != self._screen_key:  # an ended order's screen ran out: back to idle
                self._changed_now()
            elif key[0] == "arriving" and mono - self._announced_at > t.voice_repeat_s:
                self._announce(force=True)
            if self.lang != "zh" and key[0] == "idle" and mono - self._touched > t.lang_reset_s:
                self.lang = "zh"
                self._changed_now()

    # ------------------------------------------------------------------ figures
    def gauges(self) -> Mapping[str, Any]:
        with self._lock:
            screen = self._screen(self.now())
            o = self._active()
            midnight = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
            outcomes = self.journal.outcomes_since(midnight)
            return {
                "screen": screen, "order_active": o is not None, "online": self.online,
                "orders_today": sum(outcomes.values()), "picked_up_today": outcomes.get("picked_up", 0),
                "cancelled_today": outcomes.get("cancelled", 0),
                "failed_today": sum(outcomes.get(s, 0) for s in FAILED),
                "calls_refused": self.counts["refused"], "duplicate_taps": self.counts["duplicates"],
            }
