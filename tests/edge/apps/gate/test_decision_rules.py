"""The gate decision table (edge/apps/gate/decision.py) row by row, asserting the WHOLE outcome of each decision:
decision, reason, category, match, matched plate, label, the session it closes, the fee and the payment in exact
fen, whether a parking session starts, and notes. Every boundary (``>=`` against ``>``) is pinned on both sides.

Fast: the gate's own SQLite store in a temporary directory, a fixed clock, no broker, no pins.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.apps.gate.decision import Verdict, decide
from edge.apps.gate.store import GateStore, Session
from linli.contract.gate import GateSettings, ListEntry
from linli.gate.fees import Tariff
from linli.gate.plates import Plate, parse

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
SEC = timedelta(seconds=1)

RESIDENT = ListEntry(list="resident", key="r1", plate="沪A12345", valid_from=NOW - DAY, valid_to=NOW + DAY,
                     label="3-201")
EXPIRED = ListEntry(list="resident", key="r2", plate="沪A88888", valid_from=NOW - 9 * DAY, valid_to=NOW - DAY,
                    label="9-901")
VISITOR = ListEntry(list="visitor", key="v1", plate="沪B11111", valid_from=NOW - HOUR, valid_to=NOW + 3 * HOUR,
                    label="访 5-302")
TOMORROW = ListEntry(list="visitor", key="v2", plate="沪B22222", valid_from=NOW + DAY, valid_to=NOW + 2 * DAY,
                     label="访 6-101")
BLACK = ListEntry(list="blacklist", key="b1", plate="沪E44445", label="欠费")


def make_store(tmp_path: Path, *entries: ListEntry, capacity: int = 2, tariff: Tariff | None = None) -> GateStore:
    s = GateStore(tmp_path / "gate.sqlite", GateSettings(
        tariff=tariff or Tariff(free_minutes=30, hourly_cents=500, daily_cap_cents=4000), capacity_temporary=capacity))
    s.upsert_entries(list(entries))
    return s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GateStore]:
    s = make_store(tmp_path, RESIDENT, EXPIRED, VISITOR, TOMORROW, BLACK)
    yield s
    s.close()


def outcome(v: Verdict) -> dict[str, Any]:
    return {"decision": v.decision, "reason": v.reason, "category": v.category, "match": v.match,
            "matched_plate": v.matched_plate, "label": v.label, "session": v.session, "fee_cents": v.fee_cents,
            "paid_cents": v.paid_cents, "start_session": v.start_session, "extra": v.extra, "opens": v.opens}


def want(decision: str, reason: str, category: str, match: str = "none", plate: str | None = None,
         label: str | None = None, session: Session | None = None, fee: int | None = None, paid: int | None = None,
         start: bool = False, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """The whole expected outcome, every field spelt out here (not taken from Verdict's own defaults)."""
    return {"decision": decision, "reason": reason, "category": category, "match": match, "matched_plate": plate,
            "label": label, "session": session, "fee_cents": fee, "paid_cents": paid, "start_session": start,
            "extra": extra if extra is not None else {}, "opens": decision == "open"}


def at(store: GateStore, direction: str, raw: str | None, now: datetime = NOW, **kw: Any) -> dict[str, Any]:
    plate: Plate | None = None if raw is None else parse(raw)
    return outcome(decide(store, direction, plate, now, **kw))  # type: ignore[arg-type]


# ------------------------------------------------------------------ row 1: nothing to decide on


@pytest.mark.parametrize("direction", ["entry", "exit"])
def test_row1_unreadable_and_no_plate_go_to_the_guard(store: GateStore, direction: str) -> None:
    assert at(store, direction, None) == want("guard", "unreadable", "none")
    assert at(store, direction, "_无_") == want("guard", "no_plate", "none")
    assert at(store, direction, "无牌") == want("guard", "no_plate", "none")


# ------------------------------------------------------------------ rows 2-3: blacklist


@pytest.mark.parametrize("direction", ["entry", "exit"])
def test_row2_blacklist_exact_denies_even_when_also_a_resident(tmp_path: Path, direction: str) -> None:
    # the same plate is also a valid resident, listed first: the blacklist still wins, with its own label
    s = make_store(tmp_path, RESIDENT.model_copy(update={"plate": "沪E44445", "label": "1-101"}), BLACK)
    s.start_session("沪E44445", "resident", NOW - HOUR, "in")
    assert at(s, direction, "沪E44445") == want("deny", "blacklist", "blacklist", "exact", "沪E44445", "欠费")


@pytest.mark.parametrize("direction", ["entry", "exit"])
def test_row3_a_misread_of_a_blacklisted_plate_asks_the_guard(tmp_path: Path, direction: str) -> None:
    s = make_store(tmp_path, RESIDENT.model_copy(update={"key": "r9", "plate": "沪E44445", "label": "1-101"}), BLACK)
    assert at(s, direction, "沪E4444S") == want("guard", "blacklist_suspect", "blacklist", "fuzzy", "沪E44445", "欠费")


def test_row3_no_fuzzy_look_when_the_exact_plate_is_known(tmp_path: Path) -> None:
    # each has a blacklisted neighbour one confusable character away (5/S, 1/7): an exact resident or visitor is
    # never second-guessed by a fuzzy neighbour
    s = make_store(tmp_path, RESIDENT, VISITOR, ListEntry(list="blacklist", key="b2", plate="沪A1234S", label="x"),
                   ListEntry(list="blacklist", key="b3", plate="沪B11117", label="y"))
    assert at(s, "entry", "沪A12345") == want("open", "resident", "resident", "exact", "沪A12345", "3-201",
                                             start=True)
    assert at(s, "entry", "沪B11111") == want("open", "visitor", "visitor", "exact", "沪B11111", "访 5-302",
                                             start=True)


# ------------------------------------------------------------------ rows 4-5: residents and visitors


def test_row4_resident_exact_and_fuzzy_entry_starts_a_session(store: GateStore) -> None:
    assert at(store, "entry", "沪A12345") == want("open", "resident", "resident", "exact", "沪A12345", "3-201",
                                                 start=True)
    assert at(store, "entry", "沪A1Z345") == want("open", "resident", "resident", "fuzzy", "沪A12345", "3-201",
                                                 start=True)


def test_row4_resident_wins_over_a_visitor_pass_of_the_same_plate(tmp_path: Path) -> None:
    s = make_store(tmp_path, VISITOR.model_copy(update={"plate": "沪A12345"}), RESIDENT)
    assert at(s, "entry", "沪A12345") == want("open", "resident", "resident", "exact", "沪A12345", "3-201",
                                             start=True)


def test_row4_ambiguous_misread_matches_nothing(tmp_path: Path) -> None:
    # 沪A1Z345 is one confusable step from both 沪A12345 (2/Z) and 沪A1Z34S (5/S): nothing matches
    s = make_store(tmp_path, RESIDENT, RESIDENT.model_copy(update={"key": "r3", "plate": "沪A1Z34S", "label": "x"}))
    assert at(s, "entry", "沪A1Z345") == want("open", "temporary", "temporary", start=True)
    assert at(s, "exit", "沪A1Z345") == want("guard", "no_entry_record", "unknown")


def test_row5_visitor_inside_its_window_only(tmp_path: Path) -> None:
    s = make_store(tmp_path, VISITOR, TOMORROW, VISITOR.model_copy(update={"key": "v3", "plate": "沪B33333",
                                                                         "valid_from": NOW, "valid_to": NOW + HOUR}))
    assert at(s, "entry", "沪B11111") == want("open", "visitor", "visitor", "exact", "沪B11111", "访 5-302",
                                             start=True)
    assert at(s, "entry", "沪B11117") == want("open", "visitor", "visitor", "fuzzy", "沪B11111",
                                                               "访 5-302", start=True)
    assert at(s, "entry", "沪B22222") == want("open", "temporary", "temporary", start=True)  # tomorrow's pass
    # valid from its first instant, not at its last one
    assert at(s, "entry", "沪B33333")["reason"] == "visitor"
    assert at(s, "entry", "沪B33333", NOW - SEC)["reason"] == "temporary"
    assert at(s, "entry", "沪B33333", NOW + HOUR - SEC)["reason"] == "visitor"
    assert at(s, "entry", "沪B33333", NOW + HOUR)["reason"] == "temporary"


# ------------------------------------------------------------------ rows 6-7: temporary entry, lot full


def test_row6_lot_full_at_capacity_not_before(tmp_path: Path) -> None:
    s = make_store(tmp_path, RESIDENT, EXPIRED, VISITOR, capacity=2)
    s.start_session("沪A12345", "resident", NOW, "in")  # residents and visitors inside do not take temporary spaces
    s.start_session("沪B11111", "visitor", NOW, "in")
    s.start_session("沪C00001", "temporary", NOW, "in")
    assert at(s, "entry", "沪C00003") == want("open", "temporary", "temporary", start=True)  # 1 of 2
    s.start_session("沪C00002", "temporary", NOW, "in")
    assert at(s, "entry", "沪C00003") == want("deny", "lot_full", "temporary")  # 2 of 2
    assert at(s, "entry", "沪A88888") == want("deny", "lot_full", "temporary")  # an expired resident pays: full too
    assert at(s, "entry", "沪A12345") == want("open", "resident", "resident", "exact", "沪A12345", "3-201",
                                             start=True)
    assert at(s, "entry", "沪B11111") == want("open", "visitor", "visitor", "exact", "沪B11111", "访 5-302",
                                             start=True)


@pytest.mark.parametrize(("capacity", "reason"), [(0, "lot_full"), (1, "temporary")])
def test_row6_empty_lot(tmp_path: Path, capacity: int, reason: str) -> None:
    s = make_store(tmp_path, capacity=capacity)
    assert at(s, "entry", "沪C00001")["reason"] == reason


def test_row7_temporary_entry_starts_a_charged_session(store: GateStore) -> None:
    assert at(store, "entry", "沪C00001") == want("open", "temporary", "temporary", start=True)
    assert at(store, "entry", "沪B22222") == want("open", "temporary", "temporary", start=True)


def test_row7_expired_resident_enters_as_temporary_with_a_note(store: GateStore) -> None:
    note = {"note": "resident_expired"}
    assert at(store, "entry", "沪A88888") == want("open", "temporary", "temporary", start=True, extra=note)
    assert at(store, "entry", "沪A8888B") == want("open", "temporary", "temporary", start=True, extra=note)  # fuzzy


# ------------------------------------------------------------------ row 8: exit of residents and visitors


def test_row8_resident_exit_is_free_and_closes_its_session(store: GateStore) -> None:
    s = store.start_session("沪A12345", "resident", NOW - 5 * DAY, "in")
    assert at(store, "exit", "沪A12345") == want("open", "resident", "resident", "exact", "沪A12345", "3-201",
                                                session=s, fee=0, paid=0)
    # a misread at the exit finds the session of the plate it matched
    assert at(store, "exit", "沪A1Z345") == want("open", "resident", "resident", "fuzzy", "沪A12345", "3-201",
                                                session=s, fee=0, paid=0)


def test_row8_resident_whose_validity_ended_mid_stay_leaves_free(store: GateStore) -> None:
    s = store.start_session("沪A88888", "resident", NOW - 10 * DAY, "in")
    assert at(store, "exit", "沪A88888") == want("open", "resident", "resident", session=s, fee=0, paid=0)


def test_row8_visitor_exit_is_free_even_after_its_pass_ended(store: GateStore) -> None:
    s = store.start_session("沪B11111", "visitor", NOW - HOUR, "in")
    assert at(store, "exit", "沪B11111") == want("open", "visitor", "visitor", "exact", "沪B11111", "访 5-302",
                                                session=s, fee=0, paid=0)
    later = NOW + DAY
    assert at(store, "exit", "沪B11111", later) == want("open", "visitor", "visitor", session=s, fee=0, paid=0)


def test_row8_car_that_became_a_resident_during_its_stay_leaves_free(store: GateStore) -> None:
    s = store.start_session("沪A12345", "temporary", NOW - 3 * HOUR, "in")
    store.add_payment(s.id, 300, "cash", None, NOW)
    s = store.open_session("沪A12345")
    assert at(store, "exit", "沪A12345") == want("open", "resident", "resident", "exact", "沪A12345", "3-201",
                                                session=s, fee=0, paid=300)


def test_row8_a_visitor_session_of_a_plate_now_a_resident_is_a_resident_exit(tmp_path: Path) -> None:
    st = make_store(tmp_path, RESIDENT)
    s = st.start_session("沪A12345", "visitor", NOW - HOUR, "in")
    assert at(st, "exit", "沪A12345") == want("open", "resident", "resident", "exact", "沪A12345", "3-201",
                                             session=s, fee=0, paid=0)


def test_row8_resident_session_of_a_plate_now_a_visitor_stays_a_resident_exit(tmp_path: Path) -> None:
    st = make_store(tmp_path, VISITOR)
    s = st.start_session("沪B11111", "resident", NOW - HOUR, "in")
    assert at(st, "exit", "沪B11111") == want("open", "resident", "resident", "exact", "沪B11111", "访 5-302",
                                             session=s, fee=0, paid=0)


# ------------------------------------------------------------------ rows 9-10: temporary exit, fees


def test_row9_free_period_up_to_and_including_its_last_second(store: GateStore) -> None:
    s = store.start_session("沪C12345", "temporary", NOW - timedelta(minutes=30), "in")
    assert at(store, "exit", "沪C12345") == want("open", "free_period", "temporary", session=s, fee=0, paid=0)
    assert at(store, "exit", "沪C12345", NOW + SEC) == want("pay", "fee_due", "temporary", session=s, fee=500,
                                                           paid=0)


def test_row9_free_tariff_exit_is_a_free_period_not_paid(tmp_path: Path) -> None:
    st = make_store(tmp_path, tariff=Tariff(free_minutes=0, hourly_cents=0, daily_cap_cents=0))
    s = st.start_session("沪C12345", "temporary", NOW - 5 * HOUR, "in")
    assert at(st, "exit", "沪C12345") == want("open", "free_period", "temporary", session=s, fee=0, paid=0)


def test_row9_10_paid_exactly_opens_one_fen_short_pays(store: GateStore) -> None:
    s = store.start_session("沪C12345", "temporary", NOW - 2 * HOUR - timedelta(minutes=20), "in")
    assert at(store, "exit", "沪C12345") == want("pay", "fee_due", "temporary", session=s, fee=1500, paid=0)
    store.add_payment(s.id, 1499, "online", "p1", NOW)
    s = store.open_session("沪C12345")
    assert at(store, "exit", "沪C12345") == want("pay", "fee_due", "temporary", session=s, fee=1500, paid=1499)
    store.add_payment(s.id, 1, "online", "p2", NOW)
    s = store.open_session("沪C12345")
    assert at(store, "exit", "沪C12345") == want("open", "paid", "temporary", session=s, fee=1500, paid=1500)
    store.add_payment(s.id, 500, "online", "p3", NOW)
    s = store.open_session("沪C12345")
    assert at(store, "exit", "沪C12345") == want("open", "paid", "temporary", session=s, fee=1500, paid=2000)
    # at exactly 4 h the fee has caught up with what was paid, a second later it passed it
    four = NOW + timedelta(hours=1, minutes=40)
    assert at(store, "exit", "沪C12345", four) == want("open", "paid", "temporary", session=s, fee=2000,
                                                            paid=2000)
    assert at(store, "exit", "沪C12345", four + SEC) == want("pay", "fee_due", "temporary", session=s,
                                                            fee=2500, paid=2000)


def test_row10_expired_resident_without_a_resident_session_pays(store: GateStore) -> None:
    s = store.start_session("沪A88888", "temporary", NOW - 2 * HOUR, "in")
    assert at(store, "exit", "沪A88888") == want("pay", "fee_due", "temporary", session=s, fee=1000, paid=0)


# ------------------------------------------------------------------ row 11: exit without an entry record


def test_row11_known_plate_without_entry_record_leaves_as_known_and_free(store: GateStore) -> None:
    for mode in ("guard", "open"):
        assert at(store, "exit", "沪A12345", exit_without_entry=mode) == want(
            "open", "resident", "resident", "exact", "沪A12345", "3-201", fee=0)
        assert at(store, "exit", "沪A1Z345", exit_without_entry=mode) == want(
            "open", "resident", "resident", "fuzzy", "沪A12345", "3-201", fee=0)
        assert at(store, "exit", "沪B11111", exit_without_entry=mode) == want(
            "open", "visitor", "visitor", "exact", "沪B11111", "访 5-302", fee=0)


def test_row11_unknown_plate_without_entry_record(store: GateStore) -> None:
    assert at(store, "exit", "沪C99999") == want("guard", "no_entry_record", "unknown")  # the default
    assert at(store, "exit", "沪C99999", exit_without_entry="guard") == want("guard", "no_entry_record", "unknown")
    assert at(store, "exit", "沪C99999", exit_without_entry="open") == want("open", "no_entry_record", "unknown")
    # an expired resident or tomorrow's visitor without an entry record is not known now
    assert at(store, "exit", "沪A88888") == want("guard", "no_entry_record", "unknown")
    assert at(store, "exit", "沪B22222") == want("guard", "no_entry_record", "unknown")


def test_closed_sessions_are_not_open_ones(store: GateStore) -> None:
    s = store.start_session("沪C12345", "temporary", NOW - 2 * HOUR, "in")
    store.close_session(s.id, NOW - HOUR, "out", 1000)
    assert at(store, "exit", "沪C12345") == want("guard", "no_entry_record", "unknown")
