"""Every row of the decision table (edge/apps/gate/decision.py), on the gate's own SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.apps.gate.decision import decide
from edge.apps.gate.store import GateStore
from linli.contract.gate import GateSettings, ListEntry, ListsSyncArgs
from linli.gate.fees import Tariff, fee_cents
from linli.gate.plates import parse

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def store(tmp_path: Path) -> GateStore:
    s = GateStore(tmp_path / "gate.sqlite", GateSettings(tariff=Tariff(free_minutes=30, hourly_cents=500,
                                                                       daily_cap_cents=4000), capacity_temporary=2))
    s.upsert_entries([
        ListEntry(list="resident", key="沪A12345", plate="沪A12345", valid_from=NOW - DAY, valid_to=NOW + DAY,
                  label="3-201"),
        ListEntry(list="resident", key="沪A88888", plate="沪A88888", valid_from=NOW - 9 * DAY, valid_to=NOW - DAY),
        ListEntry(list="visitor", key="v1", plate="沪B11111", valid_from=NOW - timedelta(hours=1),
                  valid_to=NOW + timedelta(hours=3), label="访 5-302"),
        ListEntry(list="visitor", key="v2", plate="沪B22222", valid_from=NOW + DAY, valid_to=NOW + 2 * DAY),
        ListEntry(list="blacklist", key="沪E44445", plate="沪E44445", label="欠费"),
    ])
    yield s
    s.close()


def row(store: GateStore, direction: str, raw: str, now: datetime = NOW) -> tuple[str, str]:
    plate = None
    try:
        plate = parse(raw)
    except ValueError:
        pass
    v = decide(store, direction, plate, now)  # type: ignore[arg-type]
    return v.decision, v.reason


def test_row1_no_plate_and_unreadable_go_to_the_guard(store: GateStore) -> None:
    assert row(store, "entry", "_无_") == ("guard", "no_plate")
    assert row(store, "entry", "沪A12") == ("guard", "unreadable")


def test_row2_3_blacklist_exact_denies_fuzzy_asks_the_guard(store: GateStore) -> None:
    assert row(store, "entry", "沪E44445") == ("deny", "blacklist")
    assert row(store, "exit", "沪E44445") == ("deny", "blacklist")
    assert row(store, "entry", "沪E4444S") == ("guard", "blacklist_suspect")


def test_row4_resident_valid_exact_and_fuzzy(store: GateStore) -> None:
    assert row(store, "entry", "沪A12345") == ("open", "resident")
    v = decide(store, "entry", parse("沪A1Z345"), NOW)
    assert (v.decision, v.reason, v.match, v.matched_plate) == ("open", "resident", "fuzzy", "沪A12345")


def test_row5_visitor_inside_its_window_only(store: GateStore) -> None:
    assert row(store, "entry", "沪B11111") == ("open", "visitor")
    assert row(store, "entry", "沪B22222") == ("open", "temporary")  # tomorrow's pass


def test_row6_7_temporary_until_full(store: GateStore) -> None:
    assert row(store, "entry", "沪C00001") == ("open", "temporary")
    store.start_session("沪C00001", "temporary", NOW, "in")
    store.start_session("沪C00002", "temporary", NOW, "in")
    assert row(store, "entry", "沪C00003") == ("deny", "lot_full")
    assert row(store, "entry", "沪A12345") == ("open", "resident")  # residents still enter
    v = decide(store, "entry", parse("沪A88888"), NOW)  # expired resident: charged now, and full
    assert v.reason == "lot_full"


def test_row8_resident_whose_validity_ended_mid_stay_leaves_free(store: GateStore) -> None:
    store.start_session("沪A88888", "resident", NOW - 10 * DAY, "in")
    assert row(store, "exit", "沪A88888") == ("open", "resident")


def test_row9_10_fee_free_paid_due(store: GateStore) -> None:
    s = store.start_session("沪C12345", "temporary", NOW - timedelta(minutes=20), "in")
    assert row(store, "exit", "沪C12345") == ("open", "free_period")
    v = decide(store, "exit", parse("沪C12345"), NOW + timedelta(hours=2))
    assert (v.decision, v.reason, v.fee_cents) == ("pay", "fee_due", 1500)  # 2 h 20 min: 3 started hours
    store.add_payment(s.id, 1500, "online", "pay-1", NOW)
    assert not store.add_payment(s.id, 1500, "online", "pay-1", NOW)  # a duplicated callback
    assert row(store, "exit", "沪C12345", NOW + timedelta(hours=2)) == ("open", "paid")


def test_row11_exit_without_entry(store: GateStore) -> None:
    assert row(store, "exit", "沪C99999") == ("guard", "no_entry_record")
    assert decide(store, "exit", parse("沪C99999"), NOW, "open").decision == "open"


def test_fees() -> None:
    t = Tariff(free_minutes=30, hourly_cents=500, daily_cap_cents=4000)
    assert fee_cents(t, NOW, NOW + timedelta(minutes=30)) == 0
    assert fee_cents(t, NOW, NOW + timedelta(minutes=31)) == 500
    assert fee_cents(t, NOW, NOW + timedelta(hours=7, minutes=59)) == 4000
    assert fee_cents(t, NOW, NOW + timedelta(days=2, hours=3)) == 2 * 4000 + 1500
    assert fee_cents(t, NOW, NOW - timedelta(hours=1)) == 0


def test_sync_deltas_apply_in_order_only(store: GateStore) -> None:
    assert store.version == 0
    a = ListsSyncArgs(base_version=0, version=3, upserts=[ListEntry(list="resident", key="沪D1", plate="沪D10000")],
                      settings=GateSettings(capacity_temporary=7))
    assert store.apply_sync(a)["applied"]
    assert store.version == 3 and store.settings.capacity_temporary == 7
    stale = ListsSyncArgs(base_version=1, version=5, deletes=[("resident", "沪A12345")])
    res = store.apply_sync(stale)
    assert not res["applied"] and res["version"] == 3
    assert store.lookup("沪A12345")
    ok = ListsSyncArgs(base_version=3, version=5, deletes=[("resident", "沪A12345")])
    assert store.apply_sync(ok)["applied"] and not store.lookup("沪A12345")
    reset = ListsSyncArgs(base_version=0, version=9, reset=True)
    assert store.apply_sync(reset)["applied"] and store.counts() == {} and store.version == 9
