"""The decision table, decided on the gate itself (works with the server and the broker away).

Row by row, first match wins (``reason`` codes are what passages, pages and tests name):

=====  ===========================================  ============  ==========================================
row    when                                         decision      reason
=====  ===========================================  ============  ==========================================
1      no plate / unreadable / not a valid plate     guard         ``no_plate`` / ``unreadable``
2      plate on the blacklist (exact)                deny          ``blacklist``
3      plate a likely misread of a blacklisted one   guard         ``blacklist_suspect``
4      resident, valid now (exact or fuzzy)          open          ``resident``
5      visitor pass valid now                        open          ``visitor``
6      entry, temporary, temporary spaces full       deny          ``lot_full``
7      entry, temporary (also expired residents)     open          ``temporary`` (a parking session starts)
8      exit with an open session: resident/visitor   open          ``resident`` / ``visitor`` (free)
9      exit, temporary, fee 0 or already paid        open          ``paid`` / ``free_period``
10     exit, temporary, fee due                      pay           ``fee_due`` (guard booth or online payment)
11     exit without an entry record                  guard / open  ``no_entry_record`` (``exit_without_entry``);
                                                                  a valid resident / visitor leaves free (fee 0)
=====  ===========================================  ============  ==========================================

Every vehicle that enters gets a session (``category`` says whether it is charged), so a resident whose validity
ends during the stay still leaves free, and the lot count is right. Manual opens are not made here: they come
from the guard (a command with a reason, audited).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from linli.contract.gate import Category, Decision, Direction
from linli.gate.fees import fee_cents
from linli.gate.plates import Plate

from .store import GateStore, Match, Session


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str
    category: Category
    match: Literal["exact", "fuzzy", "none"] = "none"
    matched_plate: str | None = None
    label: str | None = None
    session: Session | None = None
    fee_cents: int | None = None
    paid_cents: int | None = None
    start_session: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def opens(self) -> bool:
        return self.decision == "open"


def _pick(matches: list[Match], lst: str, now: datetime) -> Match | None:
    valid = [m for m in matches if m.list == lst and m.valid_at(now)]
    return valid[0] if valid else None


def decide(store: GateStore, direction: Direction, plate: Plate | None, now: datetime,
           exit_without_entry: Literal["guard", "open"] = "guard") -> Verdict:
    if plate is None:
        return Verdict("guard", "unreadable", "none")
    if plate.is_none:
        return Verdict("guard", "no_plate", "none")
    exact = store.lookup(plate.text)
    if any(m.list == "blacklist" for m in exact):
        m = next(m for m in exact if m.list == "blacklist")
        return Verdict("deny", "blacklist", "blacklist", "exact", plate.text, m.label)
    match_kind: Literal["exact", "fuzzy", "none"] = "exact"
    pool = exact
    if not any(m.list in ("resident", "visitor") for m in exact):
        fuzzy = store.lookup_fuzzy(plate.text)
        fuzzy_plates = {m.plate for m in fuzzy}
        if len(fuzzy_plates) == 1:
            if any(m.list == "blacklist" for m in fuzzy):
                m = next(m for m in fuzzy if m.list == "blacklist")
                return Verdict("guard", "blacklist_suspect", "blacklist", "fuzzy", m.plate, m.label)
            pool, match_kind = fuzzy, "fuzzy"
    resident = _pick(pool, "resident", now)
    visitor = _pick(pool, "visitor", now)
    if direction == "entry":
        if resident is not None:
            return Verdict("open", "resident", "resident", match_kind, resident.plate, resident.label,
                           start_session=True)
        if visitor is not None:
            return Verdict("open", "visitor", "visitor", match_kind, visitor.plate, visitor.label, start_session=True)
        inside = store.inside()
        expired = any(m.list == "resident" for m in pool)
        if inside.get("temporary", 0) >= store.settings.capacity_temporary:
            return Verdict("deny", "lot_full", "temporary")
        return Verdict("open", "temporary", "temporary", start_session=True,
                       extra={"note": "resident_expired"} if expired else {})
    # exit
    known = (resident or visitor)
    session = store.open_session(plate.text)
    if session is None and known is not None:
        session = store.open_session(known.plate)
    if session is None:
        if known is not None:  # a resident or visitor leaves free, entry seen or not: the record says fee 0
            return Verdict("open", known.list, known.list, match_kind, known.plate, known.label,  # type: ignore[arg-type]
                           fee_cents=0)
        return Verdict("open" if exit_without_entry == "open" else "guard", "no_entry_record", "unknown")
    if session.category in ("resident", "visitor") or (known is not None and known.list == "resident"):
        cat = "resident" if (session.category == "resident" or (known is not None and known.list == "resident")) \
            else "visitor"
        return Verdict("open", cat, cat, match_kind if known else "none",  # type: ignore[arg-type]
                       known.plate if known else None, known.label if known else None, session=session, fee_cents=0,
                       paid_cents=session.paid_cents)
    fee = fee_cents(store.settings.tariff, session.entry_at, now)
    if fee == 0:
        return Verdict("open", "free_period", "temporary", session=session, fee_cents=0, paid_cents=session.paid_cents)
    if session.paid_cents >= fee:
        return Verdict("open", "paid", "temporary", session=session, fee_cents=fee, paid_cents=session.paid_cents)
    return Verdict("pay", "fee_due", "temporary", session=session, fee_cents=fee, paid_cents=session.paid_cents)
