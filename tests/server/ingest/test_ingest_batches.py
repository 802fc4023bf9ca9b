"""Ingest's batch path on real SQLite, no broker (``server/ingest/service.py``): ``Ingest.process`` is called with
the messages as the writer takes them, and a recording link stands in for the MQTT client's acknowledgements.

Pinned: every reject reason is counted once (by reason, kind and event type) and acknowledged; a poison message does
not lose its neighbours, whichever way the batch fails (a bad payload, a failing handler, a failing row, a failing
commit); nothing is acknowledged before its transaction committed, and a transient database error retries the batch
unacknowledged; an event id is stored once; the counters (stored, duplicate, batches, lag, retries) are exact.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from linli import contract
from linli.contract import DeviceRef, Kind, new_id
from linli.contract.probe import InputChanged
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import Command, Device, Event, Telemetry
from server.ingest.registry import HandlerRegistry, IngestContext
from server.ingest.service import Ingest, _about, _one_line, is_transient, subscriptions
from server.ingest.stats import REJECT_REASONS, IngestStats
from server.ingest.store import Incoming, Parsed, Rejected
from server.settings import DatabaseSettings, IngestSettings
from server.storage import SnapshotStore

SITE = "batch"
HEALTH = contract.Health(cpu_pct=1, mem_pct=2, rss_mb=3, disk_pct=4, outbox_depth=0, outbox_dropped=0, uptime_s=5)
#: Blobs whose digest starts with this cannot be written (a file stands where their shard directory would be).
UNWRITABLE = "ff"


@dataclass
class Link:
    """Stands in for ``MqttLink``: records acknowledgements, and what the database held when each was sent."""

    db: Database
    acks: list[tuple[int, int, int]] = field(default_factory=list)
    visible: dict[int, bool] = field(default_factory=dict)
    expect: dict[int, str] = field(default_factory=dict)  # mid → event id that must be committed before its ack
    paused: bool = False
    sink: Any = None
    fail_next: int = 0

    def ack(self, mid: int, qos: int, generation: int) -> bool:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("the link broke while acknowledging")
        self.acks.append((mid, qos, generation))
        if mid in self.expect:
            with self.db.engine.connect() as conn:  # another connection: sees only what was committed
                self.visible[mid] = conn.scalar(select(func.count()).select_from(Event)
                                                .where(Event.id == self.expect[mid])) == 1
        return True

    def pause(self) -> None:
        self.paused = True


@dataclass
class Bench:
    db: Database
    stats: IngestStats
    ingest: Ingest
    link: Link
    reg: HandlerRegistry
    n: int = 0

    def ref(self, kind: Kind = Kind.probe) -> DeviceRef:
        self.n += 1
        return DeviceRef(SITE, kind, f"d{self.n}")

    def events(self, ids: list[str]) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(Event).where(Event.id.in_(ids))) or 0)

    def acked(self) -> list[int]:
        return [mid for mid, _q, _g in self.link.acks]

    def rejected(self) -> dict[str, int]:
        return {r: n for r, n in self.stats.rejected.items() if n}


def _boom(ctx: IngestContext, ev: contract.Event, data: InputChanged) -> None:
    if data.input == "boom":
        raise RuntimeError("this handler fails on this event")
    if data.input == "commit-fails":  # the failure shows only when the transaction commits
        sa_event.listen(ctx.session, "before_commit", _refuse_commit)
    if data.input == "commit-locked" and _LOCKED["left"] > 0:
        _LOCKED["left"] -= 1
        sa_event.listen(ctx.session, "before_commit", _locked_commit, once=True)


_LOCKED = {"left": 0}


def _refuse_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # the transaction, not the message's savepoint
        raise RuntimeError("the database refused the commit")


def _locked_commit(session: Session) -> None:
    raise sa_exc.OperationalError("COMMIT", {}, Exception("database is locked"))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database file, copied for each test (migrating takes longer than the tests)."""
    path = tmp_path_factory.mktemp("ingest-batches") / "template.db"
    db = Database(DatabaseSettings(url=f"sqlite:///{path}"))
    upgrade(db.engine)
    db.engine.dispose()
    return path


@pytest.fixture
def bench(tmp_path: Path, migrated: Path) -> Iterator[Bench]:
    shutil.copyfile(migrated, tmp_path / "linli.db")
    db = Database(DatabaseSettings(url=f"sqlite:///{tmp_path / 'linli.db'}"))
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    (snaps / UNWRITABLE).write_bytes(b"not a directory")
    reg = HandlerRegistry()
    reg.on_event(Kind.probe, _boom, types=InputChanged)
    stats = IngestStats(CollectorRegistry())
    ing = Ingest(IngestSettings(retry_initial_s=0.01, retry_max_s=0.02, batch_interval_ms=20, queue_max=100), db,
                 SnapshotStore(snaps), stats, reg)
    link = Link(db)
    ing.attach(link)  # type: ignore[arg-type]
    yield Bench(db, stats, ing, link, reg)
    ing.stop(2)
    db.engine.dispose()


def event(ref: DeviceRef, mid: int, name: str = "x", ev_id: str | None = None, **kw: Any) -> tuple[Incoming, str]:
    ev = contract.Event(id=ev_id or new_id(), type=InputChanged.EVENT.type,
                        data=InputChanged(input=name, active=True, count=mid).to_data())
    return Incoming(ref.event_topic, ev.encode(), mid=mid, **kw), ev.id


def envelope(data_json: bytes, type_: str = "probe.input") -> bytes:
    return b'{"v":1,"id":"' + new_id().encode() + b'","type":"' + type_.encode() + b'","data":' + data_json + b"}"


# ------------------------------------------------------------------------------------------------- storing
def test_a_batch_is_stored_and_each_message_acknowledged_after_its_commit(bench: Bench) -> None:
    ref = bench.ref()
    arrived = time.monotonic() - 0.5
    msgs, ids = zip(*(event(ref, mid, qos=1, generation=3, arrived_mono=arrived) for mid in range(1, 6)),
                    strict=True)
    bench.link.expect = dict(zip(range(1, 6), ids, strict=True))
    bench.ingest.process(list(msgs))
    since = time.monotonic() - arrived
    assert bench.events(list(ids)) == 5
    assert bench.link.acks == [(mid, 1, 3) for mid in range(1, 6)]
    assert bench.link.visible == dict.fromkeys(range(1, 6), True)
    st = bench.stats
    assert (st.stored, st.duplicate, st.batches, st.batch_last, st.batch_msgs, st.db_retries) == (5, 0, 1, 5, 5, 0)
    assert 0.5 <= st.lag_last_s <= since  # arrival to commit
    assert bench.rejected() == {}
    with bench.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Device).where(Device.device == ref.device)) == 1


def test_messages_without_an_arrival_time_have_no_lag(bench: Bench) -> None:
    bench.ingest.process([event(bench.ref(), 1)[0]])
    assert (bench.stats.stored, bench.stats.lag_last_s) == (1, 0.0)


def test_an_event_id_is_stored_once_within_a_batch_and_across_batches(bench: Bench) -> None:
    ref = bench.ref()
    ev_id = new_id()
    first, _ = event(ref, 1, ev_id=ev_id)
    again, _ = event(ref, 2, ev_id=ev_id)
    other, other_id = event(ref, 3)
    bench.ingest.process([first, again, other])
    assert (bench.stats.stored, bench.stats.duplicate) == (2, 1)
    bench.ingest.process([event(ref, 4, ev_id=ev_id)[0]])  # redelivered later
    assert (bench.stats.stored, bench.stats.duplicate) == (2, 2)
    assert bench.events([ev_id, other_id]) == 2
    assert bench.acked() == [1, 2, 3, 4]
    assert bench.stats.m_duplicate.labels("event")._value.get() == 2
    assert bench.stats.m_stored.labels("event")._value.get() == 2


def test_counted_by_channel(bench: Bench) -> None:
    ref = bench.ref()
    ts = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    tele = [Incoming(ref.telemetry_topic, contract.Telemetry(ts=ts + timedelta(seconds=i), health=HEALTH).encode(),
                     qos=0, mid=0) for i in range(3)]
    status = Incoming(ref.status_topic, contract.Status(state="online", kind=Kind.probe).encode(), mid=7)
    bench.ingest.process([*tele, status, event(ref, 8)[0], tele[0]])
    assert bench.stats.m_stored.labels("telemetry")._value.get() == 3
    assert bench.stats.m_stored.labels("status")._value.get() == 1
    assert bench.stats.m_stored.labels("event")._value.get() == 1
    assert bench.stats.m_duplicate.labels("telemetry")._value.get() == 1
    assert (bench.stats.stored, bench.stats.duplicate, bench.stats.batch_last) == (5, 1, 6)
    assert bench.link.acks == [(0, 0, 0)] * 3 + [(7, 1, 0), (8, 1, 0), (0, 0, 0)]
    with bench.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Telemetry)) == 3


# -------------------------------------------------------------------------------------------------- rejects
def _reject_cases(bench: Bench) -> list[tuple[Incoming, str, str, str]]:
    """(message, reason, kind, event type) for every reason a message can be rejected for."""
    probe = bench.ref()
    lift = bench.ref(Kind.lift_guard)
    other = bench.ref()
    with bench.db.session() as s:  # a command sent to ``other``: a result for it from ``probe`` is from a stranger
        dev = s.execute(insert(Device).values(site=SITE, kind="probe", device=other.device, state="unknown",
                                              first_seen=contract.utcnow()).returning(Device.id)).scalar_one()
        cmd = new_id()
        now = contract.utcnow()
        s.execute(insert(Command).values(id=cmd, device_id=dev, name="ping", args={}, by="t", created_at=now,
                                         expires=now + timedelta(hours=1), state="sent"))
    good_blob = b"\xff\xd8 jpeg"
    sha = hashlib.sha256(good_blob).hexdigest()
    unwritable = next(b for i in range(10_000) if hashlib.sha256(b := f"jpeg {i}".encode()).hexdigest()
                      .startswith(UNWRITABLE))
    t = "probe.input"
    return [
        (Incoming("linli/nope", b"{}"), "unknown_topic", "", ""),
        (Incoming(probe.topic(contract.Channel.cmd, "ping"), b"{}"), "unknown_topic", "probe", ""),
        (Incoming(probe.event_topic, b" " * (contract.MAX_JSON_BYTES + 1)), "oversized", "probe", ""),
        (Incoming(probe.event_topic, b"not json"), "malformed", "probe", ""),
        (Incoming(probe.event_topic, envelope(b"[" * 40 + b"]" * 40)), "too_deep", "probe", t),
        (Incoming(probe.event_topic, envelope(b'{"input":"x","active":true,"count":NaN}')), "non_finite", "probe",
         t),
        (Incoming(probe.event_topic, envelope(b'{"input":"x","active":true,"count":' + b"9" * 30 + b"}")),
         "number_range", "probe", t),
        (Incoming(probe.event_topic, envelope(b'{"input":1}')), "schema", "probe", t),
        (Incoming(lift.event_topic, envelope(b'{"block_id":"nope"}', "lift.block")), "schema", "lift_guard",
         "lift.block"),
        (event(probe, 0, "boom")[0], "handler_error", "probe", t),
        (Incoming(probe.status_topic, contract.Status(state="online", kind=Kind.gate).encode()), "kind_mismatch",
         "probe", ""),
        (Incoming(probe.blob_topic(sha), b""), "blob_empty", "probe", ""),
        (Incoming(probe.blob_topic(sha), b"other bytes"), "blob_hash", "probe", ""),
        (Incoming(probe.cmd_result_topic, contract.CommandResult(id=new_id(), name="ping", ok=True).encode()),
         "unknown_command", "probe", ""),
        (Incoming(probe.cmd_result_topic, contract.CommandResult(id=cmd, name="ping", ok=True).encode()),
         "wrong_device", "probe", ""),
        (Incoming(probe.blob_topic(hashlib.sha256(unwritable).hexdigest()), unwritable), "store_error", "probe", ""),
    ]


def test_every_reject_reason_is_counted_once_and_acknowledged_and_the_neighbours_are_stored(bench: Bench) -> None:
    cases = _reject_cases(bench)
    ref = bench.ref()
    msgs: list[Incoming] = []
    good: list[str] = []
    for i, (msg, *_rest) in enumerate(cases):
        msg.mid = 100 + i
        before, before_id = event(ref, 2 * i + 1)
        msgs += [before, msg]
        good.append(before_id)
    last, last_id = event(ref, 999)
    msgs.append(last)
    good.append(last_id)
    bench.ingest.process(msgs)
    assert bench.events(good) == len(good)
    assert bench.stats.stored == len(good)
    expected: dict[str, int] = {}
    for _m, reason, _k, _t in cases:
        expected[reason] = expected.get(reason, 0) + 1
    assert bench.rejected() == expected
    assert set(expected) | {"overload"} == set(REJECT_REASONS)  # overload: see the queue test
    by: dict[tuple[str, str, str], int] = {}
    for _m, reason, kind, type_ in cases:
        key = (kind or "-", type_ or "-", reason)
        by[key] = by.get(key, 0) + 1
    assert bench.stats.rejected_by == by
    assert sorted(bench.acked()) == sorted(m.mid for m in msgs)
    assert sorted(r.reason for r in bench.stats.last_rejects) == sorted(c[1] for c in cases)


def test_a_rejected_message_is_logged_once(bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    ref = bench.ref()
    with caplog.at_level(logging.WARNING, "server.ingest.service"):
        bench.ingest.process([Incoming(ref.event_topic, b"not json", mid=5)])
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"ingest rejected malformed (8 bytes) from {ref.event_topic}: ")
    assert "JSON" in line and "more rejects" not in line
    assert bench.acked() == [5]


def test_rejects_beyond_the_log_burst_are_counted_and_said_how_many(bench: Bench,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    ref = bench.ref()
    with caplog.at_level(logging.WARNING, "server.ingest.service"):
        bench.ingest.process([Incoming(ref.event_topic, b"x" * 10, mid=i) for i in range(25)])
        bench.ingest._log_limit._start -= 60  # a later window
        bench.ingest.process([Incoming(ref.event_topic, b"[1]", mid=99)])
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 21
    assert lines[-1].endswith(" (+5 more rejects not logged)")
    assert bench.stats.rejected["malformed"] == 26


def test_a_parser_that_breaks_costs_only_its_message(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.ingest import service

    real = service.parse

    def parse(msg: Incoming) -> Parsed:
        if msg.payload == b"crash":
            raise ValueError("the parser itself broke\nsecond line")
        return real(msg)

    monkeypatch.setattr(service, "parse", parse)
    ref = bench.ref()
    ok, ok_id = event(ref, 2)
    bench.ingest.process([Incoming(ref.event_topic, b"crash", mid=1), ok])
    assert bench.events([ok_id]) == 1
    assert bench.rejected() == {"malformed": 1}
    assert bench.stats.last_rejects[-1].detail == "unparseable: ValueError: the parser itself broke"
    assert bench.acked() == [1, 2]


# --------------------------------------------------------------------------------------- a failing batch
def test_a_failing_handler_is_rejected_alone_in_one_savepoint(bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    ref = bench.ref()
    a, a_id = event(ref, 1)
    bad, bad_id = event(ref, 2, "boom")
    b, b_id = event(ref, 3)
    bench.link.expect = {1: a_id, 3: b_id}
    with caplog.at_level(logging.WARNING, "server.ingest.service"):
        bench.ingest.process([a, bad, b])
    assert bench.events([a_id, b_id]) == 2
    assert bench.events([bad_id]) == 0  # its row went with its savepoint
    assert bench.rejected() == {"handler_error": 1}
    assert bench.stats.rejected_by == {("probe", "probe.input", "handler_error"): 1}
    assert bench.link.visible == {1: True, 3: True}
    assert bench.acked() == [1, 2, 3]
    assert (bench.stats.stored, bench.stats.batches) == (2, 1)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("ingest: batch of 3 failed (HandlerFailed: ")
    assert lines[0].endswith("storing it again, one savepoint per message")


def test_a_commit_that_fails_stores_the_messages_one_by_one(bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    ref = bench.ref()
    a, a_id = event(ref, 1)
    bad, bad_id = event(ref, 2, "commit-fails")
    b, b_id = event(ref, 3)
    with caplog.at_level(logging.WARNING, "server.ingest.service"):
        bench.ingest.process([a, bad, b])
    assert bench.events([a_id, b_id]) == 2
    assert bench.events([bad_id]) == 0
    assert bench.rejected() == {"store_error": 1}
    rej = bench.stats.last_rejects[-1]
    assert (rej.kind, rej.type, rej.detail) == ("probe", "probe.input", "RuntimeError: the database refused the commit")
    assert bench.acked() == [1, 2, 3]
    assert (bench.stats.stored, bench.stats.batches) == (2, 2)  # a and b, each in a transaction of its own
    lines = [r.getMessage() for r in caplog.records]
    assert lines[1] == "ingest: batch of 3 failed (RuntimeError: the database refused the commit); storing one by one"


def test_a_lone_message_whose_commit_fails_is_rejected(bench: Bench) -> None:
    bad, bad_id = event(bench.ref(), 4, "commit-fails")
    bench.ingest.process([bad])
    assert bench.events([bad_id]) == 0
    assert bench.rejected() == {"store_error": 1}
    assert (bench.acked(), bench.stats.batches) == ([4], 0)


def test_the_device_cache_is_cleared_after_a_failed_batch(bench: Bench) -> None:
    ref = bench.ref()
    bench.ingest.process([event(ref, 1)[0]])
    assert ref in bench.ingest.env.devices.ids
    other = bench.ref()
    bench.ingest.process([event(other, 2, "commit-fails")[0]])
    assert bench.ingest.env.devices.ids == {}  # not even the device of the batch that failed
    bench.ingest.process([event(ref, 3)[0]])
    assert list(bench.ingest.env.devices.ids) == [ref]


def test_a_transient_database_error_retries_the_batch_and_acknowledges_only_after(
        bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    ref = bench.ref()
    _LOCKED["left"] = 3
    a, a_id = event(ref, 1, "commit-locked")
    b, b_id = event(ref, 2)
    bench.link.expect = {1: a_id, 2: b_id}
    with caplog.at_level(logging.WARNING, "server.ingest.service"):
        bench.ingest.process([a, b])
    assert _LOCKED["left"] == 0
    assert bench.stats.db_retries == 3
    assert bench.events([a_id, b_id]) == 2
    assert bench.link.visible == {1: True, 2: True}
    assert bench.acked() == [1, 2]
    assert bench.rejected() == {}
    assert (bench.stats.stored, bench.stats.batches) == (2, 1)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"ingest: database error, retrying 2 message(s) in {d} s: OperationalError: (builtins.Exception) "
                     "database is locked" for d in ("0.0", "0.0", "0.0")]


def test_back_off_doubles_up_to_the_most(tmp_path: Path, bench: Bench) -> None:
    waits: list[float] = []
    bench.ingest.cfg = IngestSettings(retry_initial_s=0.001, retry_max_s=0.005)
    real_wait = bench.ingest._abort.wait

    def wait(delay: float) -> bool:
        waits.append(delay)
        return real_wait(0)

    bench.ingest._abort.wait = wait  # type: ignore[method-assign]
    _LOCKED["left"] = 5
    bench.ingest.process([event(bench.ref(), 1, "commit-locked")[0]])
    assert waits == [0.001, 0.002, 0.004, 0.005, 0.005]


def test_a_database_that_stays_away_leaves_the_batch_unacknowledged_on_abort(bench: Bench) -> None:
    _LOCKED["left"] = 10_000
    msg, ev_id = event(bench.ref(), 1, "commit-locked")
    done = threading.Event()
    t = threading.Thread(target=lambda: (bench.ingest.process([msg]), done.set()))
    t.start()
    time.sleep(0.1)
    assert bench.acked() == [] and not done.is_set()
    bench.ingest._abort.set()
    t.join(5)
    _LOCKED["left"] = 0
    assert done.is_set()
    assert bench.acked() == [] and bench.events([ev_id]) == 0
    assert bench.stats.db_retries >= 2


# ------------------------------------------------------------------------------------------ the writer
def test_the_writer_stores_what_is_submitted_and_drains_the_queue_on_stop(bench: Bench) -> None:
    ref = bench.ref()
    assert not bench.ingest.running
    h = bench.ingest.health()
    assert (h["running"], h["waiting"], h["stalled"], h["ok"]) == (False, 0, False, False)
    msgs, ids = zip(*(event(ref, i) for i in range(1, 31)), strict=True)
    for m in msgs[:10]:
        bench.link.sink(m)
    bench.ingest.start()
    thread = bench.ingest._thread
    bench.ingest.start()  # a second start keeps the one writer
    assert bench.ingest._thread is thread and bench.ingest.running
    assert thread is not None and thread.name == "linli-ingest-writer" and thread.daemon
    for m in msgs[10:]:
        bench.ingest.submit(m)
    bench.ingest.stop()
    assert bench.link.paused
    assert not bench.ingest.running and bench.ingest._thread is None
    assert bench.events(list(ids)) == 30
    assert sorted(bench.acked()) == list(range(1, 31))
    assert bench.stats.received == 30
    assert bench.stats.queue_depth == 0


def test_a_writer_that_fails_goes_on(bench: Bench) -> None:
    ref = bench.ref()
    bench.link.fail_next = 1
    bench.ingest.start()
    bench.ingest.submit(event(ref, 1)[0])
    deadline = time.monotonic() + 10
    while bench.link.fail_next and time.monotonic() < deadline:
        time.sleep(0.01)
    msg, ev_id = event(ref, 2)
    bench.ingest.submit(msg)
    bench.ingest.stop()
    assert bench.events([ev_id]) == 1 and 2 in bench.acked()
    assert bench.ingest._in_hand == 0


def test_stop_without_start_only_pauses_the_link(bench: Bench) -> None:
    bench.ingest.stop()
    assert bench.link.paused and bench.ingest._thread is None


def test_a_writer_stuck_on_the_database_is_given_up_after_the_timeout(bench: Bench) -> None:
    _LOCKED["left"] = 10_000
    msg, ev_id = event(bench.ref(), 1, "commit-locked")
    bench.ingest.start()
    bench.ingest.submit(msg)
    bench.ingest.stop(0.3)
    _LOCKED["left"] = 0
    assert bench.ingest._thread is None
    assert bench.acked() == [] and bench.events([ev_id]) == 0


def test_batches_are_cut_at_batch_max(bench: Bench) -> None:
    bench.ingest.cfg = IngestSettings(batch_max=4, batch_interval_ms=10)
    ref = bench.ref()
    for i in range(10):
        bench.ingest.submit(event(ref, i)[0])
    sizes = [len(bench.ingest._next_batch()) for _ in range(4)]
    assert sizes == [4, 4, 2, 0]


def test_a_batch_waits_for_more_within_the_interval(bench: Bench) -> None:
    bench.ingest.cfg = IngestSettings(batch_max=2, batch_interval_ms=10_000)
    ref = bench.ref()
    bench.ingest.submit(event(ref, 1)[0])
    threading.Timer(0.05, lambda: bench.ingest.submit(event(ref, 2)[0])).start()
    batch = bench.ingest._next_batch()  # returns once batch_max are in hand
    assert [m.mid for m in batch] == [1, 2]


def test_qos0_is_dropped_when_the_queue_is_full_and_qos1_never(bench: Bench) -> None:
    ref = bench.ref()
    for i in range(100):
        bench.ingest.submit(Incoming(ref.telemetry_topic, b"{}", qos=0, mid=i))
    bench.ingest.submit(Incoming(ref.telemetry_topic, b"{}", qos=0, mid=100))
    bench.ingest.submit(Incoming(ref.event_topic, b"{}", qos=1, mid=101))
    assert bench.ingest._q.qsize() == 101
    assert bench.rejected() == {"overload": 1}
    assert bench.stats.last_rejects[-1].detail == "ingest queue is 100 deep"
    assert bench.stats.received == 102


def test_a_running_idle_writer_is_healthy(bench: Bench) -> None:
    ing = bench.ingest
    ing.start()
    try:
        h = ing.health()
        assert (h["running"], h["waiting"], h["stalled"], h["ok"]) == (True, 0, False, True)
    finally:
        ing.stop()
    assert not ing.health()["ok"]


def test_an_acknowledgement_is_progress(bench: Bench) -> None:
    bench.ingest._progress_mono = time.monotonic() - 100
    bench.ingest.process([event(bench.ref(), 1)[0]])
    assert time.monotonic() - bench.ingest._progress_mono < 5


def test_without_a_link_nothing_is_acknowledged(tmp_path: Path, bench: Bench) -> None:
    ing = Ingest(IngestSettings(), bench.db, SnapshotStore(tmp_path / "s2"), IngestStats(CollectorRegistry()),
                 HandlerRegistry())
    msg, ev_id = event(bench.ref(), 1)
    ing.process([msg, Incoming("linli/nope", b"{}", mid=2)])
    ing.stop()
    assert bench.events([ev_id]) == 1 and bench.acked() == []


# ---------------------------------------------------------------------------------------------- helpers
def test_transient_errors() -> None:
    assert is_transient(sa_exc.OperationalError("x", {}, Exception("locked")))
    assert is_transient(sa_exc.InterfaceError("x", {}, Exception("gone")))
    assert is_transient(sa_exc.TimeoutError("pool"))
    assert is_transient(sa_exc.DBAPIError("x", {}, Exception("reset"), connection_invalidated=True))
    assert not is_transient(sa_exc.DBAPIError("x", {}, Exception("bad"), connection_invalidated=False))
    assert not is_transient(sa_exc.IntegrityError("x", {}, Exception("unique")))
    assert not is_transient(RuntimeError("other"))


def test_one_line() -> None:
    assert _one_line(ValueError("first\nsecond")) == "ValueError: first"
    assert _one_line(ValueError("  padded  ")) == "ValueError: padded"
    assert _one_line(KeyError()) == "KeyError: "
    assert _one_line(ValueError("x" * 400)) == ("ValueError: " + "x" * 400)[:300]


def test_about_names_kind_and_event_type_when_missing() -> None:
    ref = DeviceRef(SITE, Kind.probe, "p")
    ev = contract.Event(type="probe.input", data={})
    it = Parsed(Incoming(ref.event_topic, b""), ref, contract.Channel.event, ev)
    assert (lambda r: (r.kind, r.type))(_about(Rejected("store_error", "d"), it)) == ("probe", "probe.input")
    assert (lambda r: (r.kind, r.type))(_about(Rejected("store_error", "d", "gate", "gate.x"), it)) == ("gate",
                                                                                                       "gate.x")
    st = Parsed(Incoming(ref.status_topic, b""), ref, contract.Channel.status,
                contract.Status(state="online", kind=Kind.probe))
    assert (lambda r: (r.kind, r.type))(_about(Rejected("store_error", "d"), st)) == ("probe", "")


def test_subscriptions() -> None:
    assert subscriptions(False) == contract.server_subscriptions(shared=False)
    assert subscriptions(True) == contract.server_subscriptions(shared=True)
    assert subscriptions(True) != subscriptions(False)


class FakeTime:
    """The service's view of ``time``: a monotonic clock the test moves (sleep stays real)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.sleep = time.sleep

    def monotonic(self) -> float:
        return self.now


def test_stalled_is_waiting_longer_than_stall_s(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.ingest import service

    clock = FakeTime(1000.0)
    monkeypatch.setattr(service, "time", clock)
    ing = bench.ingest
    ing.cfg = IngestSettings(stall_s=5)
    ing._progress_mono = 1000.0
    ing._in_hand = 1
    clock.now = 1005.0
    assert ing.health() == {"running": False, "waiting": 1, "stalled": False, "since_progress_s": 5.0, "ok": False}
    clock.now = 1005.04
    h = ing.health()
    assert (h["stalled"], h["since_progress_s"]) == (True, 5.0)  # rounded to a tenth
    clock.now = 1005.16
    assert ing.health()["since_progress_s"] == 5.2
    ing._in_hand = 0


def test_a_message_in_the_writers_hands_is_waiting(bench: Bench) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow(ctx: IngestContext, ev: contract.Event, data: InputChanged) -> None:
        if data.input == "slow":
            entered.set()
            release.wait(10)

    bench.reg.on_event(Kind.probe, slow, types=InputChanged)
    bench.ingest.start()
    try:
        msg, ev_id = event(bench.ref(), 1, "slow")
        bench.ingest.submit(msg)
        assert entered.wait(10)
        assert bench.ingest.health()["waiting"] == 1
        release.set()
        bench.ingest.stop()
        assert bench.ingest.health()["waiting"] == 0
        assert bench.events([ev_id]) == 1
    finally:
        release.set()


def test_a_writer_given_up_on_can_be_started_again(bench: Bench) -> None:
    _LOCKED["left"] = 10_000
    stuck, _ = event(bench.ref(), 1, "commit-locked")
    bench.ingest.start()
    bench.ingest.submit(stuck)
    bench.ingest.stop(0.2)
    _LOCKED["left"] = 0
    msg, ev_id = event(bench.ref(), 2)
    bench.ingest.start()
    bench.ingest.submit(msg)
    bench.ingest.stop()
    assert bench.events([ev_id]) == 1 and 2 in bench.acked()


def test_a_reject_records_its_size_and_logs_at_most_200_topic_and_300_detail_chars(
        bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    topic = "linli/v1/" + "t" * 400
    with caplog.at_level(logging.WARNING, "server.ingest.service"):
        bench.ingest.process([Incoming(topic, b"12345", mid=1)])
    rec = bench.stats.last_rejects[-1]
    assert (rec.reason, rec.size, rec.topic) == ("unknown_topic", 5, topic[:300])
    assert len(rec.detail) > 300
    [line] = [r.getMessage() for r in caplog.records]
    assert line == f"ingest rejected unknown_topic (5 bytes) from {topic[:200]}: {rec.detail[:300]}"
