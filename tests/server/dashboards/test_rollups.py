"""Daily roll-ups (``server.db.rollups``) kept at ingest: stored through the real ingest path (``parse`` +
``store_batch`` with every kind's handlers, one transaction per batch), every dashboard panel gives the same figures
from the roll-ups as from the raw rows — for an administrator, a user of one site and a site filter — with an event
redelivered in the same batch and in a later one, an event whose handler fails (rejected, not counted), and a day
boundary at 16:00 UTC (midnight in Shanghai). ``rebuild`` makes the same rows again; ``check`` finds a tampered
row. On PostgreSQL, dropping a month of events (retention) drops its roll-up days with it. The migrations fill
them from rows already stored; a deadlock in a handler retries the batch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, update

from linli import contract
from linli.contract import DeviceRef, Kind
from linli.contract import charger as cev
from linli.contract import lift_guard as lev
from linli.contract.gate import PassageData
from server.auth import User
from server.dashboards import DashboardRegistry, PanelQuery
from server.dashboards.fleet import register as register_fleet
from server.db import Database, upgrade
from server.db.models import Device, EventDay
from server.db.partitions import upkeep
from server.db.rollups import check, rebuild
from server.gate.models import GatePassageDay
from server.ingest.registry import HandlerRegistry, IngestContext
from server.ingest.store import (
    DeviceCache,
    HandlerFailed,
    Incoming,
    Rejected,
    StoreEnv,
    is_transient,
    lost_a_race,
    parse,
    store_batch,
)
from server.kinds import ServerKinds
from server.settings import DatabaseSettings
from server.storage import SnapshotStore
from server.taxi_kiosk.models import TaxiOrder

GATE = DeviceRef("east", Kind.gate, "lane1")
GATE2 = DeviceRef("west", Kind.gate, "lane2")
PROBE = DeviceRef("west", Kind.probe, "p1")
LIFT = DeviceRef("east", Kind.lift_guard, "lift3")
PILE = DeviceRef("west", Kind.charger, "pile2")
D1 = datetime(2026, 11, 3, tzinfo=UTC)
#: 15:59:59 UTC is still 3 Nov in Shanghai; 16:00:00 UTC is 4 Nov
EVE, MIDNIGHT = D1 + timedelta(hours=15, minutes=59, seconds=59), D1 + timedelta(hours=16)


def _boom(_ctx: IngestContext, _ev: contract.Event, _data: object) -> None:
    raise RuntimeError("handler fails")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    d = Database(DatabaseSettings(url=db_url))
    upgrade(d.engine)
    yield d
    d.dispose()


def _passage(ref: DeviceRef, at: datetime, direction: str, decision: str, opened: bool,
             fee: int | None = None) -> contract.Event:
    data = PassageData(lane=ref.device, direction=direction, at=at, plate="沪A12345", source="camera",  # type: ignore[arg-type]
                       decision=decision, reason="resident", category="resident", opened=opened,  # type: ignore[arg-type]
                       fee_cents=fee)
    return contract.Event(type=PassageData.EVENT.type, ts=at, data=data.to_data())


def _settlement(order: str, ended: datetime, wh: float, fen: int, reason: str, attempt: int = 1) -> contract.Event:
    d = cev.Settlement(order_id=order, port=1, source="card", mode="energy_tou", tariff_version=1,
                       started_at=ended - timedelta(hours=2), ended_at=ended, charged_s=7200, energy_wh=wh,
                       max_power_w=900, amount_fen=fen, prepaid_fen=500, refund_fen=500 - fen,
                       stop_reason=reason, attempt=attempt)  # type: ignore[arg-type]
    return contract.Event(type=cev.Settlement.EVENT.type, ts=ended, data=d.to_data())


def _block_start(block: str, at: datetime, latency_ms: float) -> contract.Event:
    d = lev.BlockStarted(block_id=_block_id(block), cls="ebike", label="ebike", score=0.9, scores=[0.9], track_s=1,
                         latency_ms=latency_ms, seen_ms=latency_ms, objects=[], model="m", relay=True)
    return contract.Event(type=lev.BlockStarted.EVENT.type, ts=at, data=d.to_data())


def _block_end(block: str, at: datetime, reason: str, hold_s: float) -> contract.Event:
    d = lev.BlockEnded(block_id=_block_id(block), reason=reason, hold_s=hold_s, cls="ebike", best_score=0.9,  # type: ignore[arg-type]
                       fault="max_hold" if reason == "max_hold" else None)
    return contract.Event(type=lev.BlockEnded.EVENT.type, severity=d.event_severity(), ts=at, data=d.to_data())


def _block_id(name: str) -> str:
    return "01JBBBBB" + name.rjust(18, "0")


def _msg(ref: DeviceRef, p: contract.Event | contract.Telemetry) -> Incoming:
    topic = ref.event_topic if isinstance(p, contract.Event) else ref.telemetry_topic
    return Incoming(topic, p.encode())


def _store(db: Database, env: StoreEnv, msgs: list[Incoming], isolate: bool = False) -> list[object]:
    with db.session() as s:
        return list(store_batch(s, [parse(m) for m in msgs], env, datetime.now(UTC), {}, isolate))


def _telemetry(ts: datetime) -> contract.Telemetry:
    return contract.Telemetry(ts=ts, health=contract.Health(cpu_pct=1, mem_pct=1, rss_mb=1, disk_pct=1,
                                                            soc_temp_c=40, outbox_depth=0, outbox_dropped=0,
                                                            uptime_s=1))


def _fill(db: Database, tmp_path: Path) -> dict[str, contract.Event]:
    reg = HandlerRegistry()
    ServerKinds.load().register_handlers(reg)
    reg.on_event(Kind.probe, _boom, types="test.boom")
    env = StoreEnv(reg, SnapshotStore(tmp_path / "snap"), DeviceCache())
    ev = {
        "eve_in": _passage(GATE, EVE, "entry", "open", True),
        "midnight_out": _passage(GATE, MIDNIGHT, "exit", "open", True, fee=500),
        "out_paid": _passage(GATE, MIDNIGHT + timedelta(hours=2), "exit", "pay", True, fee=250),
        "out_refused": _passage(GATE, MIDNIGHT + timedelta(hours=3), "exit", "deny", False, fee=700),
        "west_in": _passage(GATE2, EVE - timedelta(days=1), "entry", "guard", True),
        "alarm": contract.Event(type="probe.tamper", severity="alarm", ts=EVE, data={}),
        "info": contract.Event(type="probe.input", ts=MIDNIGHT, data={"input": "a", "active": True, "count": 1}),
    }
    m = {k: _msg(GATE if k in ("eve_in", "midnight_out", "out_paid", "out_refused") else
                 GATE2 if k == "west_in" else PROBE, e) for k, e in ev.items()}
    # the alarm twice in one batch (a broker redelivery before the first was acknowledged)
    out = _store(db, env, [*m.values(), m["alarm"]])
    assert out == ["stored"] * 7 + ["duplicate"]
    # redelivered after the commit: stored once, counted once
    assert _store(db, env, [m["midnight_out"], m["alarm"]]) == ["duplicate", "duplicate"]
    # a handler that fails: the event is rejected (isolated batch) and not counted
    boom = contract.Event(type="test.boom", ts=MIDNIGHT, data={})
    outs = _store(db, env, [_msg(PROBE, boom), _msg(PROBE, contract.Event(type="probe.input", ts=EVE, data={
        "input": "b", "active": False, "count": 2}))], isolate=True)
    assert isinstance(outs[0], Rejected) and outs[1] == "stored"
    # lift blocks: started then released (by itself, by staff, by the longest hold), a release that came before its
    # start (placed from its hold time, then moved to the start's day), the same block's start redelivered
    lift = [_block_start("B1", EVE - timedelta(hours=1), 150.25), _block_end("B1", EVE, "cleared", 60),
            _block_start("B2", EVE - timedelta(seconds=30), 900.5), _block_end("B2", MIDNIGHT, "remote", 30),
            _block_end("B3", MIDNIGHT + timedelta(minutes=15), "max_hold", 600),
            _block_start("B4", MIDNIGHT + timedelta(hours=1), 120),
            _block_start("B5", MIDNIGHT + timedelta(hours=2), 500)]
    assert _store(db, env, [_msg(LIFT, e) for e in lift]) == ["stored"] * 7
    # B3's start arrives late: its day moves back to 3 Nov (its release placed it 600 s before 16:15 UTC, on 4 Nov;
    # the start says 15:58 UTC) and its latency is that day's largest
    late = _block_start("B3", EVE - timedelta(minutes=2), 2000)
    assert _store(db, env, [_msg(LIFT, late), _msg(LIFT, lift[0])]) == ["stored", "duplicate"]
    # B5 ends by staff: it leaves "released by itself" on 4 Nov, whose largest latency was its own
    assert _store(db, env, [_msg(LIFT, _block_end("B5", MIDNIGHT + timedelta(hours=2, minutes=1), "local", 60))]
                  ) == ["stored"]
    # charging bills: one ending at 15:59:59 UTC, one at 16:00 UTC, and a resend of the first (another event id,
    # attempt 2) that bills nothing again
    bills = [_settlement("O1", EVE, 1234.567, 350, "full"), _settlement("O2", MIDNIGHT, 800.25, 120, "unplugged"),
             _settlement("O1", EVE, 1234.567, 350, "full", attempt=2)]
    assert _store(db, env, [_msg(PILE, b) for b in bills]) == ["stored"] * 3
    # telemetry either side of Shanghai midnight, one of them twice
    tms = [_telemetry(EVE), _telemetry(MIDNIGHT), _telemetry(MIDNIGHT + timedelta(hours=1))]
    assert _store(db, env, [_msg(GATE, tms[0]), _msg(PROBE, tms[1]), _msg(PROBE, tms[2])]) == ["stored"] * 3
    assert _store(db, env, [_msg(PROBE, tms[1])]) == ["duplicate"]
    _taxi_orders(db)
    return ev


def _taxi_orders(db: Database) -> None:
    """Taxi orders as dispatch leaves them (their panels count them in SQL, not from a roll-up)."""
    def order(n: int, at: datetime, state: str, assigned: float | None = None, arrived: float | None = None,
              cancel: str | None = None) -> TaxiOrder:
        return TaxiOrder(id=f"T{n:025d}", device_id=kiosk.id, request_key=f"k{n}", source="button", state=state,
                         place={"name": "东门"}, requested_at=at, received_at=at, stored_at=at,
                         assigned_at=at + timedelta(seconds=assigned) if assigned is not None else None,
                         arrived_at=at + timedelta(seconds=arrived) if arrived is not None else None,
                         cancel_requested=cancel)

    with db.session() as s:
        kiosk = Device(site="east", kind=Kind.taxi_kiosk.value, device="k1", state="online", first_seen=D1)
        s.add(kiosk)
        s.flush()
        s.add_all([order(1, D1 + timedelta(hours=10), "picked_up", 60, 300),
                   order(2, D1 + timedelta(hours=12), "picked_up", 90.5, 421.25),
                   order(3, D1 + timedelta(hours=13), "cancelled", cancel="resident"),
                   order(4, D1 + timedelta(hours=14), "searching"),
                   order(5, EVE, "cancelled", 33, cancel="no_answer"),
                   order(6, MIDNIGHT, "no_driver")])


def _registry() -> DashboardRegistry:
    reg = DashboardRegistry()
    register_fleet(reg)
    ServerKinds.load().register_dashboards(reg)
    return reg


def _all_panels(db: Database, user: User, site: str | None, since: date, until: date, raw: bool
                ) -> dict[str, object]:
    out: dict[str, object] = {}
    with db.session() as s:
        for p in _registry().all():
            for lang in ("zh", "en"):
                q = PanelQuery(s, user, since, until, site=site, lang=lang, raw=raw)  # type: ignore[arg-type]
                out[f"{p.id}/{lang}"] = p.query(q).as_json()
    return out


def test_panels_from_rollups_equal_raw(db: Database, tmp_path: Path) -> None:
    _fill(db, tmp_path)
    since, until = date(2026, 11, 1), date(2026, 11, 5)
    admin, west = User("a", "admin", None), User("w", "manager", frozenset({"west"}))
    for user, site in ((admin, None), (admin, "east"), (west, None), (west, "west")):
        rolled = _all_panels(db, user, site, since, until, raw=False)
        assert rolled == _all_panels(db, user, site, since, until, raw=True), (user.name, site)
    got = _all_panels(db, admin, None, since, until, raw=False)
    # 15:59:59 UTC on 3 Nov, 16:00 UTC on 4 Nov (Shanghai days)
    assert got["gate.traffic/en"] == {"labels": ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04",
                                                 "2026-11-05"],
                                      "series": [{"name": "in", "values": [0, 1, 1, 0, 0]},
                                                 {"name": "out", "values": [0, 0, 0, 3, 0]}], "unit": ""}
    assert got["gate.fees/en"]["series"] == [{"name": "yuan", "values": [0, 0, 0, 7.5, 0]}]  # type: ignore[index]
    assert got["fleet.alarms/en"]["series"] == [  # type: ignore[index]
        {"name": "lift_guard", "values": [0, 0, 0, 1, 0]}, {"name": "probe", "values": [0, 0, 1, 0, 0]}]
    # the redelivered alarm and the rejected event are not counted
    assert got["probe.events/en"]["series"] == [  # type: ignore[index]
        {"name": "probe.input", "values": [0, 0, 1, 1, 0]}, {"name": "probe.tamper", "values": [0, 0, 1, 0, 0]}]
    assert got["lift_guard.outcomes/en"]["series"] == [  # type: ignore[index]
        {"name": "longest hold (alarm)", "values": [0, 0, 1, 0, 0]},
        {"name": "released by itself", "values": [0, 0, 1, 1, 0]},
        {"name": "released by staff (false alarm)", "values": [0, 0, 1, 1, 0]}]
    assert got["lift_guard.latency/en"]["series"] == [  # type: ignore[index]
        {"name": "mean", "values": [None, None, 1017, 310, None]},
        {"name": "longest", "values": [None, None, 2000, 500, None]}]
    assert got["charger.energy/en"]["series"] == [  # type: ignore[index]
        {"name": "pile2", "values": [0, 0, 1.235, 0.8, 0]}]
    assert got["charger.revenue/en"]["series"] == [{"name": "pile2", "values": [0, 0, 3.5, 1.2, 0]}]  # type: ignore[index]
    assert got["charger.reasons/en"]["series"] == [  # type: ignore[index]
        {"name": "full", "values": [0, 0, 1, 0, 0]}, {"name": "unplugged", "values": [0, 0, 0, 1, 0]}]
    assert got["taxi_kiosk.success/en"]["series"] == [  # type: ignore[index]
        {"name": "got a car", "values": [None, None, 100.0, 0.0, None]}]
    assert got["taxi_kiosk.waits/en"]["series"] == [  # type: ignore[index]
        {"name": "wait for a driver", "values": [None, None, 1.0, None, None]},
        {"name": "wait for the car", "values": [None, None, 6.0, None, None]}]
    with db.engine.begin() as conn:
        assert check(conn) == {"charger_days": 0, "event_days": 0, "gate_passage_days": 0, "lift_block_days": 0,
                               "reporting_days": 0}
        before = conn.execute(select(EventDay.__table__)).all()
        rebuild(conn)
        assert sorted(conn.execute(select(EventDay.__table__)).all()) == sorted(before)
        conn.execute(update(GatePassageDay.__table__).values(n=GatePassageDay.n + 1))
        assert check(conn)["gate_passage_days"] > 0
        rebuild(conn, ["gate_passage_days"], since=date(2026, 11, 2), until=date(2026, 11, 4))
        assert check(conn)["gate_passage_days"] == 0


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_retention_drops_rollup_days_with_their_month(db: Database, tmp_path: Path) -> None:
    _fill(db, tmp_path)
    with db.engine.begin() as conn:
        rebuild(conn)  # the events' ids are made now, so their partition is this month's: rebuilt, still equal
    with db.engine.connect() as conn:
        assert conn.scalar(select(EventDay.n).where(EventDay.day == "2026-11-03",
                                                    EventDay.type == "probe.tamper")) == 1
    # a year later every month of events and telemetry is past a 30-day retention
    res = upkeep(db.engine, {"events": 30, "telemetry": 30}, 1, now=datetime.now(UTC) + timedelta(days=400))
    assert res is not None and res.dropped and res.rollup_rows_dropped > 0
    with db.engine.begin() as conn:
        assert conn.execute(select(EventDay.__table__)).all() == []
        assert check(conn) == {"charger_days": 0, "event_days": 0, "gate_passage_days": 0, "lift_block_days": 0,
                               "reporting_days": 0}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_linli_rollups_check_and_rebuild(db: Database, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    from linli.cli import main

    _fill(db, tmp_path)
    cfg = tmp_path / "server.yaml"
    cfg.write_text(f"database:\n  url: {db_url}\n")
    assert main(["rollups", "check", "-c", str(cfg)]) == 0
    with db.engine.begin() as conn:
        conn.execute(update(EventDay.__table__).where(EventDay.type == "probe.tamper").values(n=5))
    assert main(["rollups", "check", "-c", str(cfg), "--since", "2026-11-03", "--until", "2026-11-03"]) == 1
    assert "event_days: 2 row(s) differ" in capsys.readouterr().out
    assert main(["rollups", "rebuild", "-c", str(cfg), "--table", "event_days", "--since", "2026-11-03"]) == 0
    assert main(["rollups", "check", "-c", str(cfg)]) == 0
    assert main(["rollups", "rebuild", "-c", str(cfg), "--table", "nope"]) == 2
    assert main(["rollups", "check", "-c", str(cfg), "--since", "3 Nov"]) == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_deadlock_in_a_handler_retries_the_batch_not_rejects_the_message(db: Database, tmp_path: Path) -> None:
    """Ingest workers sharing PostgreSQL can deadlock over a roll-up row (two batches adding to the same lanes in
    another order); PostgreSQL then fails one statement with an ``OperationalError``. Even in a batch stored one
    savepoint per message, that is the batch's to retry (``is_transient``), not the message's to be rejected: the
    event is stored and counted once on the retry."""
    lost = [True]

    def deadlocked_once(_ctx: IngestContext, _ev: contract.Event, _data: object) -> None:
        if lost[0]:
            lost[0] = False
            raise sa_exc.OperationalError("INSERT INTO gate_passage_days …", {},
                                          psycopg.errors.DeadlockDetected("deadlock detected"))

    reg = HandlerRegistry()
    reg.on_event(Kind.probe, deadlocked_once, types="test.flaky")
    env = StoreEnv(reg, SnapshotStore(tmp_path / "snap"), DeviceCache())
    ev = contract.Event(type="test.flaky", ts=EVE, data={})
    with pytest.raises(HandlerFailed) as err:
        _store(db, env, [_msg(PROBE, ev)], isolate=True)
    assert is_transient(err.value)
    # a handler's own error stays the message's (rejected alone), an SQLite "no such table" too
    for own in (RuntimeError("bug"), sa_exc.OperationalError("SELECT", {}, Exception("no such table: x"))):
        try:
            raise HandlerFailed(deadlocked_once, own) from own
        except HandlerFailed as failed:
            assert not lost_a_race(failed)
    assert _store(db, env, [_msg(PROBE, ev)], isolate=True) == ["stored"]
    with db.engine.connect() as conn:
        assert conn.execute(select(EventDay.day, EventDay.n).where(EventDay.type == "test.flaky")).all() == [
            ("2026-11-03", 1)]


def test_migrations_fill_the_rollups_from_rows_already_stored(db: Database, tmp_path: Path) -> None:
    """A database that had raw rows before the roll-ups existed: the revisions that add them fill them (each with
    its own SQL) equal to what ``from_raw`` makes."""
    from alembic import command

    from server.db.migrate import alembic_config

    _fill(db, tmp_path)
    with db.engine.begin() as conn:
        for target in ("rollups@0002", "gate@gate_0002", "lift_guard@lift_guard_0003", "charger@charger_0001"):
            command.downgrade(alembic_config(conn), target)
        assert not {"event_days", "reporting_days", "gate_passage_days", "lift_block_days", "charger_days"} & set(
            sa_inspect(conn).get_table_names())
    upgrade(db.engine)
    with db.engine.begin() as conn:
        assert conn.execute(select(EventDay.n).where(EventDay.type == "probe.tamper")).scalar_one() == 1
        assert check(conn) == {"charger_days": 0, "event_days": 0, "gate_passage_days": 0, "lift_block_days": 0,
                               "reporting_days": 0}
