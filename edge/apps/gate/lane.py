"""One lane's chain: a plate read (from the LPR push or the on-device camera) → normalise/validate → merge repeats →
decide (decision table) → barrier pulse → parking session → ``gate.passage`` event (with the plate image).

The vehicle, not the message: one passage per vehicle stay. At an entry, a plate that already has an open parking
session is the same stay read again when the camera says so (``triggerType`` lingering / reversing) or when it
entered through this lane less than ``reread_window_s`` ago: a **re-read** — counted, answered so the camera
stops resending, but no new passage, no second opening, and the parking clock keeps its first entry. Past the
window (the exit was missed and the car is back) it is decided as usual but stays in its session (the fee clock
never restarts). Lingering and reversing triggers never make a passage anywhere.

Reads that need a person (no plate, unreadable, fee due) wait on the lane for the guard's decision on the local
page; the guard's open is a command with a reason (audited) and is recorded as a passage too.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from edge.apps.base import CommandRefused, Emit
from edge.hal.cardreader import Credential, mask_card
from linli.contract.gate import PassageData, PaymentData
from linli.gate.fees import yuan
from linli.gate.plates import Plate, PlateColour, colour_fits, try_parse

from .barrier import Barrier
from .config import LaneConfig
from .decision import Verdict, decide
from .lprpush import SAME_VEHICLE_TRIGGERS
from .store import GateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    """One plate read, whatever its source."""

    raw: str
    colour: PlateColour
    source: Literal["lpr_push", "camera", "card"]
    at: datetime
    confidence: float | None = None
    plate_id: str | None = None
    offline: bool = False
    camera_opened: bool = False
    image: bytes | None = None
    clock_skew_s: float | None = None
    image_problem: str | None = None
    trigger: int | None = None  # the LPR camera's triggerType
    unsure: tuple[str, ...] = ()  # the reader could not decide between these: the guard decides


@dataclass
class Pending:
    """A read waiting for the guard (``guard``) or for payment (``pay``)."""

    kind: Literal["guard", "pay"]
    obs: Observation
    plate: Plate | None
    verdict: Verdict
    since: datetime
    blob: str | None = None


@dataclass
class Outcome:
    verdict: Verdict
    opened: bool
    event_id: str | None
    merged: bool = False
    passage: dict[str, Any] = field(default_factory=dict)


def sanitise(raw: str, limit: int = 40) -> str:
    """What a reader sent, safe to store and show: printable characters only, cut to ``limit``."""
    out = "".join(c if c.isprintable() and unicodedata.category(c) not in ("Cf", "Co", "Cs") else "?" for c in raw)
    return out[:limit]


PROMPTS = {
    "resident": ("欢迎回家", "Welcome home"),
    "visitor": ("欢迎光临", "Welcome"),
    "temporary": ("临时车辆，欢迎光临", "Temporary vehicle, welcome"),
    "lot_full": ("车位已满，请勿入内", "The car park is full"),
    "blacklist": ("禁止通行，请联系保安", "Entry refused, please see the guard"),
    "fee_due": ("请缴费 {fee} 元", "Please pay {fee} yuan"),
    "exit_open": ("一路顺风", "Have a good journey"),
    "guard": ("请稍候，保安确认中", "Please wait for the guard"),
}


class Lane:
    def __init__(self, name: str, cfg: LaneConfig, store: GateStore, barrier: Barrier, emit: Emit,
                 now: Callable[[], datetime], say: Callable[[str], None], repeat_window_s: float,
                 exit_without_entry: Literal["guard", "open"], keep: int = 50, reread_window_s: float = 900.0
                 ) -> None:
        self.name = name
        self.cfg = cfg
        self.store = store
        self.barrier = barrier
        self.emit = emit
        self.now = now
        self.say = say
        self.repeat_window_s = repeat_window_s
        self.exit_without_entry = exit_without_entry
        self.reread_window_s = reread_window_s
        self.pending: Pending | None = None
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self.counts: dict[str, int] = {"passages": 0, "opened": 0, "merged": 0, "rereads": 0}
        self._last: tuple[str, datetime, Outcome] | None = None
        self._lock = threading.RLock()

    @property
    def direction(self) -> Literal["entry", "exit"]:
        return self.cfg.direction

    # ------------------------------------------------------------------ reads
    def handle(self, obs: Observation) -> Outcome:
        plate, problem = try_parse(obs.raw, obs.colour)
        if obs.unsure:
            plate, problem = None, "unsure between " + " / ".join(obs.unsure)
        elif plate is not None and not plate.is_none and not obs.offline and not colour_fits(plate.kind, obs.colour):
            plate, problem = None, f"a {obs.colour.value} plate cannot read {plate.text} ({plate.kind}): a misread"
        with self._lock:
            now = obs.at
            key = plate.text if plate is not None and not plate.is_none else "-"
            if not obs.offline and self._last is not None:
                last_key, last_at, last_out = self._last
                if last_key == key and abs((now - last_at).total_seconds()) <= self.repeat_window_s \
                        and (key != "-" or self.pending is not None):
                    self.counts["merged"] += 1
                    return Outcome(last_out.verdict, False, last_out.event_id, merged=True, passage=last_out.passage)
            if not obs.offline:
                reread = self._reread(obs, plate, now)
                if reread is not None:
                    return reread
            if obs.offline:
                out = self._offline_record(obs, plate, problem)
            else:
                out = self._live(obs, plate, problem, now)
                self._last = (key, now, out)
            return out

    def _reread(self, obs: Observation, plate: Plate | None, now: datetime) -> Outcome | None:
        """The same vehicle stay read again (see the module doc): an outcome that opens nothing, or None."""
        same_vehicle = obs.trigger in SAME_VEHICLE_TRIGGERS
        session = None
        if plate is not None and not plate.is_none and self.direction == "entry":
            session = self.store.open_session(plate.text)
            if session is None:  # a one-character misread of a known plate is that car (decision rule 3/4)
                near = {m.plate for m in self.store.lookup_fuzzy(plate.text)}
                session = self.store.open_session(near.pop()) if len(near) == 1 else None
        within = session is not None and session.entry_lane == self.name \
            and abs((now - session.entry_at).total_seconds()) < self.reread_window_s
        if not (same_vehicle or within):
            return None
        self.counts["rereads"] += 1
        log.info("lane %s: %s re-read (trigger %s), no new passage", self.name, plate.text if plate else "-",
                 obs.trigger)
        last = self._last[2] if self._last is not None else None
        if last is not None and self._last is not None and self._last[0] == (plate.text if plate else "-"):
            return Outcome(last.verdict, False, last.event_id, merged=True, passage=last.passage)
        reason = "same_vehicle" if same_vehicle else "reread"
        return Outcome(Verdict("deny", reason, session.category if session else "none",  # type: ignore[arg-type]
                               session=session), False, None, merged=True)

    def _live(self, obs: Observation, plate: Plate | None, problem: str | None, now: datetime) -> Outcome:
        verdict = decide(self.store, self.direction, plate, now, self.exit_without_entry)
        session_id, entry_at = None, None
        opened = False
        if verdict.opens:
            self._open()
            opened = True
            session_id, entry_at = self._session_effects(verdict, plate, now)
        blob_bytes = [obs.image] if obs.image else []
        data = self._passage(obs, plate, problem, verdict, opened, session_id, entry_at)
        ev = self.emit(data, blob_bytes)
        if verdict.decision in ("guard", "pay"):
            self.pending = Pending(verdict.decision, obs, plate, verdict, now,  # type: ignore[arg-type]
                                   ev.blobs[0] if ev.blobs else None)
        elif self.pending is not None and verdict.opens:
            self.pending = None
        self._prompt(verdict)
        self._record(data, ev.id, ev.blobs)
        return Outcome(verdict, opened, ev.id, passage=data.model_dump(mode="json"))

    def _offline_record(self, obs: Observation, plate: Plate | None, problem: str | None) -> Outcome:
        """A read the camera stored while we were away: it happened in the past, decided by the camera's own
        offline whitelist. Recorded with its own time; parking sessions follow it; the barrier is not touched."""
        verdict = decide(self.store, self.direction, plate, obs.at, self.exit_without_entry)
        session_id, entry_at = None, None
        if obs.camera_opened and plate is not None and not plate.is_none:
            session_id, entry_at = self._session_effects(verdict, plate, obs.at, force_temporary=True)
        v = Verdict("open" if obs.camera_opened else "deny", "camera_offline_record", verdict.category, verdict.match,
                    verdict.matched_plate, verdict.label, fee_cents=verdict.fee_cents)
        data = self._passage(obs, plate, problem, v, obs.camera_opened, session_id, entry_at)
        ev = self.emit(data, [obs.image] if obs.image else [])
        self._record(data, ev.id, ev.blobs)
        return Outcome(v, False, ev.id, passage=data.model_dump(mode="json"))

    def _session_effects(self, verdict: Verdict, plate: Plate | None, at: datetime,
                         force_temporary: bool = False) -> tuple[str | None, datetime | None]:
        if plate is None or plate.is_none:
            return None, None
        if self.direction == "entry":
            if verdict.start_session or force_temporary:
                key = verdict.matched_plate or plate.text
                stay = self.store.open_session(key)
                if stay is not None and stay.entry_at <= at:
                    return stay.id, stay.entry_at  # back without its exit seen: the same stay, the same clock
                cat = verdict.category if verdict.category in ("resident", "visitor", "temporary") else "temporary"
                s = self.store.start_session(key, cat, at, self.name)
                return s.id, s.entry_at
            return None, None
        session = verdict.session or self.store.open_session(plate.text)
        if session is None:
            return None, None
        self.store.close_session(session.id, at, self.name, verdict.fee_cents or 0)
        return session.id, session.entry_at

    def _passage(self, obs: Observation, plate: Plate | None, problem: str | None, v: Verdict, opened: bool,
                 session_id: str | None, entry_at: datetime | None, by: str | None = None,
                 note: str | None = None, source: str | None = None) -> PassageData:
        data = PassageData(
            lane=self.name, direction=self.direction, at=obs.at, plate=plate.text if plate else "",
            colour=(plate.colour if plate else obs.colour).value, plate_kind=plate.kind if plate else "none",
            raw=sanitise(obs.raw), problem=problem[:200] if problem else None,
            source=source or obs.source, confidence=obs.confidence, decision=v.decision, reason=v.reason,  # type: ignore[arg-type]
            category=v.category, match=v.match, matched_plate=v.matched_plate, label=v.label or None,
            session_id=session_id, entry_at=entry_at, fee_cents=v.fee_cents, paid_cents=v.paid_cents,
            opened=opened, offline_replay=obs.offline, camera_plate_id=obs.plate_id, clock_skew_s=obs.clock_skew_s,
            by=by, note=(note or (v.extra.get("note") if v.extra else None) or obs.image_problem or "")[:200] or None)
        return data

    def _record(self, data: PassageData, event_id: str, blobs: list[str]) -> None:
        self.counts["passages"] += 1
        if data.opened:
            self.counts["opened"] += 1
        self.recent.appendleft({**data.model_dump(mode="json"), "event_id": event_id,
                                "blob": blobs[0] if blobs else None})

    def _open(self) -> None:
        if self.cfg.open_via in ("relay", "both"):
            self.barrier.open()
        else:
            self.barrier.opened_by_camera()  # the camera pulses its own IO on our "ok"

    def _prompt(self, v: Verdict) -> None:
        if v.decision == "pay":
            key = "fee_due"
        elif v.decision == "guard":
            key = "guard"
        elif v.decision == "deny":
            key = "lot_full" if v.reason == "lot_full" else "blacklist"
        elif self.direction == "exit":
            key = "exit_open"
        else:
            key = v.category if v.category in ("resident", "visitor") else "temporary"
        fee = yuan(max(0, (v.fee_cents or 0) - (v.paid_cents or 0)))
        self.say(PROMPTS[key][0].format(fee=fee))

    # ------------------------------------------------------------------ cards
    def card(self, cred: Credential) -> Outcome:
        """A card shown at the lane's reader: the same identity as at the door and the charger
        (``edge.hal.cardreader``); a valid card on the card list opens like a resident, anything else is refused."""
        with self._lock:
            now = self.now()
            masked = mask_card(cred.value)
            entry = self.store.card(cred.value) if cred.kind == "card" else None
            if entry is None:
                v = Verdict("deny", "card_unknown" if cred.kind == "card" else "not_a_card", "unknown")
            elif not entry.valid_at(now):
                v = Verdict("deny", "card_expired", "unknown", label=entry.label)
            else:
                v = Verdict("open", "card_valid", "resident", label=entry.label)
            opened = v.opens
            if opened:
                self._open()
            obs = Observation("", PlateColour.unknown, "card", now)
            data = self._passage(obs, None, None, v, opened, None, None, note=f"card {masked}")
            ev = self.emit(data)  # a refused card is a warning (the model's rule for deny)
            self._record(data, ev.id, ev.blobs)
            self.say(PROMPTS["resident" if opened else "blacklist"][0])
            return Outcome(v, opened, ev.id, passage=data.model_dump(mode="json"))

    # ------------------------------------------------------------------ the guard and payments
    def manual_open(self, reason: str, by: str) -> dict[str, Any]:
        """The guard opens (always with a reason). A waiting read is settled as a manual passage."""
        with self._lock:
            p = self.pending
            now = self.now()
            self.pending = None
            self._open()
            session_id, entry_at, fee = None, None, None
            if p is not None and p.plate is not None and not p.plate.is_none:
                if p.kind == "pay" and p.verdict.session is not None:
                    fee = p.verdict.fee_cents
                    self.store.close_session(p.verdict.session.id, now, self.name, fee or 0)
                    session_id, entry_at = p.verdict.session.id, p.verdict.session.entry_at
                elif self.direction == "entry":
                    s = self.store.start_session(p.plate.text, "temporary", now, self.name)
                    session_id, entry_at = s.id, s.entry_at
            obs = p.obs if p is not None else Observation("", PlateColour.unknown, "lpr_push", now)
            obs = Observation(obs.raw, obs.colour, obs.source, now, obs.confidence)
            v = Verdict("manual", "guard_open", p.verdict.category if p else "none", fee_cents=fee,
                        paid_cents=p.verdict.paid_cents if p else None)
            data = self._passage(obs, p.plate if p else None, None, v, True, session_id, entry_at, by=by,
                                 note=reason, source="manual")
            ev = self.emit(data)
            self._record(data, ev.id, [p.blob] if p and p.blob else [])
            self._last = None
            return {"lane": self.name, "event_id": ev.id, "plate": data.plate}

    def deny_pending(self, by: str) -> dict[str, Any]:
        with self._lock:
            p, self.pending = self.pending, None
            if p is None:
                raise CommandRefused(f"nothing is waiting at lane {self.name}")
            return {"lane": self.name, "cleared": p.plate.text if p.plate else ""}

    def pay(self, amount_cents: int | None, method: Literal["cash", "online", "waived"], by: str,
            payment_id: str | None = None, session_id: str | None = None) -> dict[str, Any]:
        """Money for the session waiting at this exit (cash at the booth), or for a given session (online)."""
        with self._lock:
            p = self.pending
            target = session_id or (p.verdict.session.id if p and p.kind == "pay" and p.verdict.session else None)
            if target is None:
                raise CommandRefused(f"no fee is waiting at lane {self.name}")
            session = self.store.session(target)
            if session is None:
                raise CommandRefused(f"unknown parking session {target}")
            now = self.now()
            due = p.verdict.fee_cents if p and p.verdict.session and p.verdict.session.id == target else None
            amount = amount_cents if amount_cents is not None else max(0, (due or 0) - session.paid_cents)
            fresh = self.store.add_payment(target, amount, method, payment_id, now)
            if fresh:
                self.emit(PaymentData(session_id=target, plate=session.plate, amount_cents=amount, method=method,
                                      payment_id=payment_id, lane=self.name, by=by, at=now))
            opened = False
            if p is not None and p.kind == "pay" and p.verdict.session and p.verdict.session.id == target:
                paid = session.paid_cents + (amount if fresh else 0)
                if paid >= (p.verdict.fee_cents or 0):
                    self.pending = None
                    self._open()
                    opened = True
                    self.store.close_session(target, now, self.name, p.verdict.fee_cents or 0)
                    v = Verdict("open", "paid", "temporary", session=p.verdict.session, fee_cents=p.verdict.fee_cents,
                                paid_cents=paid)
                    obs = Observation(p.obs.raw, p.obs.colour, p.obs.source, now, p.obs.confidence)
                    data = self._passage(obs, p.plate, None, v, True, target, session.entry_at, by=by,
                                         note=f"paid {method}")
                    ev = self.emit(data)
                    self._record(data, ev.id, [p.blob] if p.blob else [])
                    self.say(PROMPTS["exit_open"][0])
            return {"lane": self.name, "session_id": target, "amount_cents": amount, "duplicate": not fresh,
                    "opened": opened}

    def view(self) -> dict[str, Any]:
        p = self.pending
        return {
            "name": self.name, "direction": self.direction, "state": self.barrier.state(),
            "loop": self.barrier.occupied, "source": self.cfg.source,
            "pending": None if p is None else {
                "kind": p.kind, "plate": p.plate.text if p.plate else "", "raw": sanitise(p.obs.raw),
                "reason": p.verdict.reason, "fee_cents": p.verdict.fee_cents, "paid_cents": p.verdict.paid_cents,
                "since": p.since, "blob": p.blob},
            "recent": list(self.recent)[:10], "counts": dict(self.counts),
        }
