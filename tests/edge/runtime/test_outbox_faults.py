"""The outbox under faults, exactly: a write that SQLite refuses (a trigger raising inside the transaction, a full
disk through ``PRAGMA max_page_count``), a reused MQTT message id, a new client, a publish racing a disconnect —
with exact depths, counters and order. Real SQLite files; no broker (the link is driven through its callbacks)."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from edge.runtime.config import MqttConfig
from edge.runtime.link import Link
from edge.runtime.metrics import Stats
from edge.runtime.outbox import (
    PRIORITY_ALARM,
    PRIORITY_EVENT,
    PRIORITY_TELEMETRY,
    Outbox,
    StorageReport,
    TokenBucket,
)
from linli.contract import DeviceRef, Event, Kind, Status, sha256_hex
from linli.provision import Credentials

#: a mutation run (make mutate) runs these tests once per mutant: fewer property examples there
MUTATION_RUN = "MUTANT_UNDER_TEST" in os.environ
REF = DeviceRef("t-site", Kind.probe, "obf")
T = REF.telemetry_topic
E = REF.event_topic


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _ob(tmp_path: Path, **kw: object) -> Outbox:
    return Outbox(tmp_path / "o.sqlite", **kw)  # type: ignore[arg-type]


def _poison(path: Path, table: str = "outbox", when: str = "NEW.topic = 'poison'", event: str = "INSERT") -> None:
    """Make SQLite refuse some writes from now on (another connection, as a second process would)."""
    db = sqlite3.connect(path)
    db.execute(f"CREATE TRIGGER poison_{table}_{event.lower()} BEFORE {event} ON {table} WHEN {when} "
               "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    db.commit()
    db.close()


def _rows(path: Path) -> list[tuple[int, str, bytes]]:
    db = sqlite3.connect(path)
    try:
        cur = db.execute("SELECT priority, topic, payload FROM outbox ORDER BY id")
        return [(r[0], r[1], bytes(r[2])) for r in cur]
    finally:
        db.close()


def _send_all(ob: Outbox, first_mid: int = 1) -> list[bytes]:
    out, mid = [], first_mid
    while rows := ob.take(4):
        for r in rows:
            ob.mark_sent(r.id, mid, r.qos)
            out.append(r.payload)
            assert ob.acked([mid]) == 1
            mid += 1
    return out


def _fill(db: sqlite3.Connection) -> None:
    db.execute(f"PRAGMA max_page_count={db.execute('PRAGMA page_count').fetchone()[0]}")


def _free(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA max_page_count=1073741823")


def _event(i: int, severity: str = "info", blobs: list[bytes] | None = None) -> Event:
    return Event(type="test.tick", severity=severity, data={"i": i, "pad": "x" * 2000},  # type: ignore[arg-type]
                 blobs=[sha256_hex(b) for b in blobs or []])


# --------------------------------------------------------------------------------------------- a refused write
def test_a_failing_insert_rolls_back_and_the_outbox_keeps_accepting(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    ob.enqueue(E, b"one")
    _poison(ob.path)
    with pytest.raises(sqlite3.IntegrityError, match="refused by the test"):
        ob.enqueue("poison", b"x")
    assert not ob._db.in_transaction, "the failed transaction was rolled back"
    assert ob.depth() == 1
    assert ob.enqueue(E, b"two") == 2  # the refused row left nothing behind, not even its id
    assert ob.depth() == 2
    assert _rows(ob.path) == [(PRIORITY_EVENT, E, b"one"), (PRIORITY_EVENT, E, b"two")]
    assert _send_all(ob) == [b"one", b"two"] and ob.depth() == 0


def test_a_batch_is_all_or_nothing(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    blobs = [b"jpeg-a", b"jpeg-b"]
    ev = _event(1, "alarm", blobs)
    _poison(ob.path, when=f"NEW.topic = '{E}'")  # the blobs go in, then the event is refused
    with pytest.raises(sqlite3.IntegrityError):
        ob.enqueue_event(REF, ev, blobs)
    assert ob.depth() == 0 and _rows(ob.path) == []
    assert not ob._db.in_transaction
    assert ob.enqueue(T, b"t", qos=0, priority=PRIORITY_TELEMETRY) is not None and ob.depth() == 1


def test_a_refused_write_leaves_the_counters_alone(tmp_path: Path) -> None:
    ob = _ob(tmp_path, max_messages=2)
    ob.enqueue(T, b"t0", qos=0, priority=PRIORITY_TELEMETRY)
    ob.enqueue(E, b"e0")
    _poison(ob.path)
    with pytest.raises(sqlite3.IntegrityError):
        ob._insert([(T, b"t1", 0, PRIORITY_TELEMETRY, False), ("poison", b"x", 1, PRIORITY_EVENT, False)])
    assert ob.dropped() == 0 and ob.over_capacity() == 0 and ob.depth() == 2
    assert _rows(ob.path)[0] == (PRIORITY_TELEMETRY, T, b"t0"), "the oldest telemetry was not dropped after all"


def test_a_refused_count_of_a_rejected_message_leaves_no_transaction_open(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    ob.enqueue(E, b"refused")
    ob.enqueue(E, b"fine")
    r1, r2 = ob.take(2)
    ob.mark_sent(r1.id, 1, 1)
    ob.mark_sent(r2.id, 2, 1)
    _poison(ob.path, table="counters", when="1")
    assert ob.rejected(1) == 1, "the refused message goes even when it cannot be counted"
    assert not ob._db.in_transaction
    assert ob.depth() == 1 and ob.inflight() == 1
    assert ob.enqueue(E, b"after") is not None, "the outbox keeps accepting"
    assert ob.acked([2]) == 1
    assert [r.payload for r in ob.take(5)] == [b"after"]


def test_rejected_counts_and_removes_exactly_one(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    ob = Outbox(path)
    for p in (b"a", b"b"):
        ob.enqueue(E, p)
    ra, rb = ob.take(2)
    ob.mark_sent(ra.id, 11, 1)
    ob.mark_sent(rb.id, 12, 1)
    assert ob.rejected(99) == 0 and ob.rejected_count() == 0, "an unknown mid is neither removed nor counted"
    assert ob.rejected(11) == 1
    assert ob.rejected(11) == 0, "twice is once"
    assert (ob.rejected_count(), ob.depth(), ob.inflight()) == (1, 1, 1)
    ob.close()
    assert ob.rejected(12) == 0
    again = Outbox(path)
    assert again.rejected_count() == 1 and again.depth() == 1  # persisted; b was never acknowledged
    assert [r.payload for r in again.take(5)] == [b"b"]


# --------------------------------------------------------------------------------------------- message ids
def test_a_reused_message_id_releases_the_row_it_named_before(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    ob.enqueue(E, b"a")
    ob.enqueue(E, b"b")
    ra, rb = ob.take(2)
    ob.mark_sent(ra.id, 5, 1)
    ob.mark_sent(rb.id, 5, 1)  # paho's ids wrapped around: 5 names b now, a's acknowledgement will never come
    assert ob.inflight() == 1
    assert [r.payload for r in ob.take(5)] == [b"a"], "a is not left in flight until a restart"
    assert ob.acked([5]) == 1 and ob.depth() == 1
    assert [r.payload for r in ob.take(5)] == [b"a"], "the acknowledgement removed b, not a"
    (r,) = ob.take(1)
    ob.mark_sent(r.id, 6, 1)
    assert ob.acked([6]) == 1 and ob.depth() == 0 and ob.inflight() == 0


def test_unmark_puts_a_row_back_and_forgets_its_id(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    ob.enqueue(E, b"a")
    (r,) = ob.take(1)
    ob.mark_sent(r.id, 3, 1)
    ob.unmark(r.id)
    assert ob.inflight() == 0 and [x.id for x in ob.take(1)] == [r.id]
    assert ob.acked([3]) == 0 and ob.depth() == 1, "the forgotten id removes nothing"
    ob.unmark(r.id)  # twice: harmless
    ob.unmark(12345)
    assert ob.depth() == 1


def test_a_new_client_resends_every_unacknowledged_row_in_order(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    for i in range(5):
        ob.enqueue(E, f"e{i}".encode())
    rows = ob.take(3)
    for n, r in enumerate(rows):
        ob.mark_sent(r.id, 100 + n, 1)
    assert ob.acked([101]) == 1
    assert [r.payload for r in ob.take(10)] == [b"e3", b"e4"]
    ob.forget_inflight()
    assert ob.inflight() == 0
    assert ob.acked([100, 102]) == 0, "the old client's ids mean nothing now"
    assert _send_all(ob) == [b"e0", b"e2", b"e3", b"e4"] and ob.depth() == 0


def test_connection_lost_releases_qos0_and_keeps_qos1_in_flight(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    ob.enqueue(T, b"t", qos=0, priority=PRIORITY_TELEMETRY)
    ob.enqueue(E, b"e")
    re, rt = ob.take(2)
    ob.mark_sent(rt.id, 1, 0)
    ob.mark_sent(re.id, 2, 1)
    ob.connection_lost()
    assert ob.inflight() == 1 and [r.payload for r in ob.take(5)] == [b"t"]
    assert ob.acked([1]) == 0, "the lost QoS 0 id removes nothing"
    assert ob.acked([2]) == 1


def test_a_qos0_publish_that_raced_the_disconnect_is_sent_again_after_the_reconnect(tmp_path: Path) -> None:
    """The sender published a QoS 0 row; the connection dropped (connection_lost) before it marked the row; paho
    drops the unwritten packet when it reconnects and never acknowledges it. Without release on connect the row
    stayed in flight — and in depth() — until the agent restarted."""
    ob = _ob(tmp_path)
    ob.enqueue(T, b"t", qos=0, priority=PRIORITY_TELEMETRY)
    ob.enqueue(E, b"e")
    re, rt = ob.take(2)
    ob.mark_sent(re.id, 7, 1)
    ob.connection_lost()
    ob.mark_sent(rt.id, 8, 0)  # too late: the connection is already gone
    ob.connected()
    assert ob.inflight() == 1, "the QoS 1 row stays in flight: paho re-sends it itself"
    assert [r.payload for r in ob.take(5)] == [b"t"]
    assert ob.acked([7]) == 1 and ob.depth() == 1


def _link(ob: Outbox) -> Link:
    cfg = MqttConfig(host="127.0.0.1", port=9, password_env="LINLI_TEST_NO_SUCH_VAR", reconnect_min_s=0.1,
                     reconnect_max_s=0.2)
    return Link(REF, cfg, Credentials("u", "p"), ob, Stats(), lambda state: Status(state=state, kind=REF.kind),
                lambda msg: None, logger=logging.getLogger("test.link"))


def test_the_link_releases_stale_qos0_rows_when_it_connects(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    ob.enqueue(T, b"t", qos=0, priority=PRIORITY_TELEMETRY)
    (rt,) = ob.take(1)
    ob.mark_sent(rt.id, 8, 0)
    link = _link(ob)
    try:
        ok = ReasonCode(PacketTypes.CONNACK, "Success")
        link._on_connect(link.client, None, None, ok, None)  # type: ignore[arg-type]
        assert not link.connected  # ready once the device's subscriptions are acknowledged
        granted = [ReasonCode(PacketTypes.SUBACK, "Granted QoS 1")]
        link._on_subscribe(link.client, None, -1, granted, None)  # another subscription's ack
        assert not link.connected
        link._on_subscribe(link.client, None, link._sub_mid, granted, None)  # type: ignore[arg-type]
        assert link.connected
        assert ob.inflight() == 0 and [r.payload for r in ob.take(1)] == [b"t"]
    finally:
        link.client.loop_stop()


def test_the_link_acknowledges_and_rejects_through_the_outbox(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    for p in (b"a", b"b", b"c"):
        ob.enqueue(E, p)
    ra, rb, rc = ob.take(3)
    for n, r in enumerate((ra, rb, rc)):
        ob.mark_sent(r.id, n + 1, 1)
    link = _link(ob)
    link._on_publish(link.client, None, 1, ReasonCode(PacketTypes.PUBACK, "Success"), None)
    link._on_publish(link.client, None, 2, ReasonCode(PacketTypes.PUBACK, "Not authorized"), None)
    _poison(ob.path, table="counters", when="1")  # the refusal cannot even be counted: c must still be acked
    link._on_publish(link.client, None, 3, ReasonCode(PacketTypes.PUBACK, "Success"), None)
    link._drain_acks()
    assert ob.depth() == 0 and ob.inflight() == 0
    assert link.stats.get("publish_acks") == 2 and link.stats.get("publish_rejected") == 1


# --------------------------------------------------------------------------------------------- a full disk
def test_a_full_disk_keeps_a_bounded_memory_queue_and_writes_it_in_order(tmp_path: Path) -> None:
    clock = Clock()
    ob = _ob(tmp_path, memory_max=3, retry_s=3600, clock=clock)
    reports: list[StorageReport] = []
    ob.on_storage_report(reports.append)
    ob.enqueue(E, b"stored")
    _fill(ob._db)
    assert ob.enqueue(E, b"e0" * 3000) == 0  # held in memory (0), not written
    assert ob.failing is not None and "full" in ob.failing
    clock.t += 5
    assert ob.enqueue(T, b"t0", qos=0, priority=PRIORITY_TELEMETRY) == 0
    assert ob.enqueue(E, b"e1") == 0
    assert (ob.held(), ob.lost(), ob.depth()) == (3, 0, 4)
    assert ob.enqueue(E, b"e2") == 0  # full: the held telemetry goes first
    assert (ob.held(), ob.lost()) == (3, 1)
    assert ob.enqueue(T, b"t1", qos=0, priority=PRIORITY_TELEMETRY) is None  # full of events: new telemetry goes
    assert (ob.held(), ob.lost()) == (3, 2)
    assert ob.enqueue(E, b"e3") == 0  # full of events: the oldest event goes
    assert (ob.held(), ob.lost(), ob.depth()) == (3, 3, 4)
    ob.retry_pending()  # not yet: at most every retry_s
    assert ob.held() == 3 and not reports
    _free(ob._db)
    ob.retry_s = 0
    ob.retry_pending()
    assert ob.failing is None and ob.held() == 0
    [rep] = reports
    assert (rep.kept, rep.lost, rep.since) == (3, 3, 1_000_000.0) and "full" in rep.error
    assert ob.lost() == 3 and ob.depth() == 4
    assert _send_all(ob) == [b"stored", b"e1", b"e2", b"e3"]
    ob.close()
    assert Outbox(tmp_path / "o.sqlite").lost() == 3, "the loss is persisted"


def test_while_failing_new_messages_queue_behind_the_held_ones(tmp_path: Path) -> None:
    ob = _ob(tmp_path, retry_s=0)
    _fill(ob._db)
    ob.enqueue(E, b"a" * 5000)
    assert ob.held() == 1
    _free(ob._db)
    assert ob.enqueue(E, b"b") == 2, "the held message is written first (id 1), then the new one"
    assert ob.held() == 0 and ob.failing is None
    assert [r.payload[:1] for r in ob.take(5)] == [b"a", b"b"]


def test_take_retries_held_messages_and_hands_them_out(tmp_path: Path) -> None:
    ob = _ob(tmp_path, retry_s=0)
    notified: list[int] = []
    ob.add_listener(lambda: notified.append(1))
    _fill(ob._db)
    ob.enqueue(E, b"x" * 5000)
    assert ob.take(5) == [] and notified == [1]
    _free(ob._db)
    assert [len(r.payload) for r in ob.take(5)] == [5000]
    assert notified == [1, 1], "writing them again wakes the sender"


def test_a_storage_listener_that_fails_does_not_stop_the_others(tmp_path: Path) -> None:
    ob = _ob(tmp_path, retry_s=0)
    got: list[int] = []

    def bad(_r: StorageReport) -> None:
        raise RuntimeError("listener bug")

    ob.on_storage_report(bad)
    ob.on_storage_report(lambda r: got.append(r.kept))
    _fill(ob._db)
    ob.enqueue(E, b"x" * 5000)
    _free(ob._db)
    ob.retry_pending()
    assert got == [1]


def test_a_non_storage_error_while_retrying_keeps_the_messages_held(tmp_path: Path) -> None:
    ob = _ob(tmp_path, retry_s=0)
    _fill(ob._db)
    ob.enqueue("poison", b"x" * 5000)
    _free(ob._db)
    _poison(ob.path)
    ob.retry_pending()
    assert ob.held() == 1 and ob.failing is not None and not ob._db.in_transaction


def test_the_memory_queue_bound_holds_exactly(tmp_path: Path) -> None:
    ob = _ob(tmp_path, memory_max=2, retry_s=3600)
    _fill(ob._db)
    ob.enqueue(E, b"a" * 5000)
    ob.enqueue(E, b"b")
    assert (ob.held(), ob.lost()) == (2, 0)
    ob.enqueue(E, b"c")
    assert (ob.held(), ob.lost()) == (2, 1)


# --------------------------------------------------------------------------------------------- order and counts
def test_order_is_priority_then_insertion_and_take_respects_its_limit(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    ob.enqueue(T, b"t1", qos=0, priority=PRIORITY_TELEMETRY)
    ob.enqueue(E, b"e1")
    ob.enqueue(E, b"a1", priority=PRIORITY_ALARM)
    ob.enqueue(E, b"e2", retain=True)
    ob.enqueue(E, b"a2", priority=PRIORITY_ALARM)
    assert ob.take(0) == [] and ob.take(-1) == []
    first = ob.take(2)
    assert [r.payload for r in first] == [b"a1", b"a2"] and all(r.priority == PRIORITY_ALARM for r in first)
    everything = ob.take(10)
    assert [(r.payload, r.qos, r.retain, r.priority) for r in everything] == [
        (b"a1", 1, False, 0), (b"a2", 1, False, 0), (b"e1", 1, False, 1), (b"e2", 1, True, 1), (b"t1", 0, False, 2)]
    ob.mark_sent(first[0].id, 1, 1)
    assert [r.payload for r in ob.take(2)] == [b"a2", b"e1"], "in flight is skipped, the limit still holds"


def test_string_payloads_are_stored_as_utf8(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    ob.enqueue(E, "电梯")
    assert ob.take(1)[0].payload == "电梯".encode()


def test_capacity_boundary_is_exact(tmp_path: Path) -> None:
    ob = _ob(tmp_path, max_messages=3)
    for i in range(3):
        assert ob.enqueue(T, f"t{i}".encode(), qos=0, priority=PRIORITY_TELEMETRY) is not None
    assert ob.dropped() == 0 and ob.depth() == 3, "exactly full is not over"
    ob.enqueue(E, b"e")
    assert ob.dropped() == 1 and ob.over_capacity() == 0 and ob.depth() == 3
    assert [r.payload for r in ob.take(5)] == [b"e", b"t1", b"t2"]


def test_telemetry_in_flight_is_not_dropped_for_room(tmp_path: Path) -> None:
    ob = _ob(tmp_path, max_messages=2)
    ob.enqueue(T, b"t0", qos=0, priority=PRIORITY_TELEMETRY)
    ob.enqueue(T, b"t1", qos=0, priority=PRIORITY_TELEMETRY)
    (r0,) = ob.take(1)
    ob.mark_sent(r0.id, 1, 0)
    ob.enqueue(E, b"e")
    assert ob.dropped() == 1 and ob.depth() == 2
    assert ob.acked([1]) == 1 and ob.depth() == 1
    assert [r.payload for r in ob.take(5)] == [b"e"]


def test_over_capacity_counts_each_event_stored_beyond_the_bound(tmp_path: Path) -> None:
    ob = _ob(tmp_path, max_messages=1)
    ob.enqueue(E, b"e0")
    ob._insert([(E, b"e1", 1, PRIORITY_EVENT, False), (T, b"t", 0, PRIORITY_TELEMETRY, False),
                (E, b"e2", 1, PRIORITY_ALARM, False)])
    assert (ob.over_capacity(), ob.dropped(), ob.depth()) == (2, 1, 3)


def test_oldest_age_and_figures_of_a_closed_outbox(tmp_path: Path) -> None:
    clock = Clock()
    ob = _ob(tmp_path, clock=clock)
    assert ob.oldest_age_s() is None
    ob.enqueue(E, b"a")
    clock.t += 2.5
    ob.enqueue(E, b"b")
    clock.t += 1
    assert ob.oldest_age_s() == 3.5
    clock.t -= 10  # the wall clock stepped back
    assert ob.oldest_age_s() == 0.0
    assert ob.take(1)[0].created == 1_000_000.0
    ob.close()
    ob.close()
    assert (ob.oldest_age_s(), ob.dropped(), ob.over_capacity(), ob.rejected_count(), ob.lost()) == (None, 0, 0, 0, 0)
    assert ob.take(5) == [] and ob.acked([1]) == 0
    ob.retry_pending()
    with pytest.raises(RuntimeError, match="closed"):
        ob.enqueue(E, b"c")


def test_enqueue_event_returns_the_event_row_after_its_blobs(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    blobs = [b"img-1", b"img-2"]
    ev = _event(1, "info", blobs)
    row = ob.enqueue_event(REF, ev, list(reversed(blobs)))  # any order of the blobs
    rows = ob.take(5)
    assert [r.id for r in rows][-1] == row and len(rows) == 3
    assert {r.topic for r in rows[:2]} == {REF.blob_topic(sha256_hex(b)) for b in blobs}
    assert json.loads(rows[2].payload)["data"]["i"] == 1
    assert all(r.priority == PRIORITY_EVENT and r.qos == 1 for r in rows)


# --------------------------------------------------------------------------------------------- the token bucket
def test_token_bucket_burst_refill_and_wait() -> None:
    now = [0.0]
    b = TokenBucket(4, burst=2, clock=lambda: now[0])
    assert b.available() == 2
    assert b.take(2) and not b.take()
    assert b.wait_time() == pytest.approx(0.25) and b.wait_time(3) == pytest.approx(0.75)
    now[0] += 0.25
    assert b.available() == 1
    now[0] += 100
    assert b.available() == 2, "never more than the burst"
    assert b.wait_time() == 0.0
    slow = TokenBucket(0.5, clock=lambda: now[0])
    assert slow.burst == 1.0 and slow.available() == 1
    with pytest.raises(ValueError):
        TokenBucket(0)


# --------------------------------------------------------------------------------------------- a damaged file
def _damage_freelist(path: Path) -> None:
    """Damage the file where quick_check notices but every row still reads (the free-list count in the header)."""
    data = bytearray(path.read_bytes())
    data[36:40] = (5).to_bytes(4, "big")
    path.write_bytes(bytes(data))


def test_a_damaged_file_whose_rows_all_read_is_queued_again_exactly(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "o.sqlite"
    clock = Clock()
    old = Outbox(path, clock=clock)
    old.enqueue(T, b"t0", qos=0, priority=PRIORITY_TELEMETRY)
    clock.t += 1.5
    old.enqueue(E, b"e-retained", retain=True)
    clock.t += 1
    old.enqueue(E, b"alarm", priority=PRIORITY_ALARM)
    old.close()
    assert not Path(f"{path}-wal").exists()
    _damage_freelist(path)
    with caplog.at_level(logging.ERROR, logger="edge.runtime.outbox"):
        ob = Outbox(path, clock=clock)
    loss = ob.startup_loss
    assert loss is not None and (loss.salvaged, loss.lost, loss.error) == (3, 0, "unreadable")
    assert loss.moved_to.name.startswith("o.sqlite.corrupt-") and loss.moved_to.exists()
    assert f"outbox {path} was damaged (unreadable): 3 messages recovered, 0 lost" in caplog.messages
    assert (ob.depth(), ob.lost(), ob.held()) == (3, 0, 0)
    rows = ob.take(5)
    assert [(r.priority, r.topic, r.payload, r.qos, r.retain, r.created) for r in rows] == [
        (PRIORITY_ALARM, E, b"alarm", 1, False, 1_000_002.5),
        (PRIORITY_EVENT, E, b"e-retained", 1, True, 1_000_001.5),
        (PRIORITY_TELEMETRY, T, b"t0", 0, False, 1_000_000.0)]
    assert all(type(r.payload) is bytes and type(r.retain) is bool for r in rows)
    ob.close()
    assert Outbox(path).startup_loss is None, "the new file is sound"


def test_a_file_that_is_no_database_is_an_unknown_loss(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "o.sqlite"
    path.write_bytes(b"garbage " * 1000)
    with caplog.at_level(logging.ERROR, logger="edge.runtime.outbox"):
        ob = Outbox(path)
    loss = ob.startup_loss
    assert loss is not None and (loss.salvaged, loss.lost, loss.error) == (0, None, "file is not a database")
    assert ob.lost() == 0 and ob.depth() == 0
    assert any(m.endswith("0 messages recovered, an unknown number lost") for m in caplog.messages)


def test_a_partly_readable_file_counts_its_loss_persistently(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    ob = Outbox(path)
    for i in range(30):
        ob.enqueue_event(REF, _event(i))
    ob.close()
    data = bytearray(path.read_bytes())
    data[10 * 4096: 10 * 4096 + 12] = b"\xff" * 12  # the header of one of the table's leaf pages
    path.write_bytes(bytes(data))
    ob = Outbox(path)
    loss = ob.startup_loss
    assert loss is not None and 0 < loss.salvaged < 30 and loss.error != "unreadable"
    if loss.lost is not None:
        assert loss.salvaged + loss.lost == 30 and ob.lost() == loss.lost
    got = [json.loads(r.payload)["data"]["i"] for r in ob.take(30)]
    assert got == sorted(got) and len(got) == loss.salvaged, "what was read goes again, in its order"


def test_a_damaged_file_salvaged_onto_a_full_disk_is_held_in_memory(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "o.sqlite"
    old = Outbox(path)
    old.enqueue(E, b"a")
    old.enqueue(E, b"b")
    old.close()
    _damage_freelist(path)

    def full(self: Outbox, batch: list) -> list:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Outbox, "_write", full)
    ob = Outbox(path, retry_s=0)
    monkeypatch.undo()
    assert ob.startup_loss is not None and ob.startup_loss.salvaged == 2
    assert ob.held() == 2 and ob.failing == "database or disk is full" and ob.depth() == 2
    ob.retry_pending()
    assert ob.held() == 0 and ob.failing is None
    assert [r.payload for r in ob.take(5)] == [b"a", b"b"]


def test_defaults(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    assert (ob.max_messages, ob.max_inflight, ob.memory_max, ob.retry_s, ob.bucket.rate, ob.bucket.burst) == (
        50_000, 20, 1000, 1.0, 50.0, 50.0)
    assert ob.inflight() == 0 and ob.failing is None and ob.startup_loss is None


# ------------------------------------------------------------------------------------- the bookkeeping, as a property
OPS = st.lists(st.tuples(st.sampled_from(["enqueue0", "enqueue1", "send", "ack", "unmark", "lost", "connected",
                                          "forget", "reject"]), st.integers(1, 6)), max_size=40)


@settings(max_examples=15 if MUTATION_RUN else 40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_in_flight_bookkeeping_stays_consistent(tmp_path_factory: pytest.TempPathFactory,
                                                 ops: list[tuple[str, int]]) -> None:
    ob = Outbox(tmp_path_factory.mktemp("ob") / "o.sqlite")
    stored = 0
    try:
        for op, n in ops:
            if op in ("enqueue0", "enqueue1"):
                qos = 0 if op == "enqueue0" else 1
                ob.enqueue(T if qos == 0 else E, b"x", qos=qos, priority=PRIORITY_TELEMETRY if qos == 0 else 1)
                stored += 1
            elif op == "send":
                for r in ob.take(2):
                    ob.mark_sent(r.id, n, r.qos)  # small ids: reuse is frequent
            elif op == "ack":
                stored -= ob.acked([n])
            elif op == "reject":
                stored -= ob.rejected(n)
            elif op == "unmark" and ob._inflight:
                ob.unmark(sorted(ob._inflight)[n % len(ob._inflight)])
            elif op == "lost":
                ob.connection_lost()
            elif op == "connected":
                ob.connected()
            elif op == "forget":
                ob.forget_inflight()
            for row, (mid, *_rest) in ob._inflight.items():
                assert ob._by_mid[mid] == row, "every row in flight is found by its message id"
            assert ob.depth() == stored == len(_rows(ob.path))
            assert not {r.id for r in ob.take(100)} & set(ob._inflight), "nothing in flight is handed out twice"
    finally:
        ob.close()


# --------------------------------------------------------------------------------------------- more exact limits
def test_the_memory_queue_drops_held_telemetry_before_any_event(tmp_path: Path) -> None:
    ob = _ob(tmp_path, memory_max=3, retry_s=3600)
    _fill(ob._db)
    ob.enqueue(E, b"e0" * 3000)
    ob.enqueue(T, b"t0", qos=0, priority=PRIORITY_TELEMETRY)
    ob.enqueue(T, b"t1", qos=0, priority=PRIORITY_TELEMETRY)
    ob.enqueue(E, b"e1")  # full: t0 goes (telemetry first), not e0 (the oldest)
    ob.enqueue(E, b"e2")  # full: t1 goes
    assert (ob.held(), ob.lost()) == (3, 2)
    _free(ob._db)
    ob.retry_s = 0
    ob.retry_pending()
    assert [p[:2] for p in _send_all(ob)] == [b"e0", b"e1", b"e2"]


def test_a_batch_keeps_its_events_after_dropping_its_telemetry(tmp_path: Path) -> None:
    ob = _ob(tmp_path, memory_max=1, retry_s=3600)
    _fill(ob._db)
    ob.enqueue(E, b"e0" * 3000)
    out = ob._insert([(T, b"t", 0, PRIORITY_TELEMETRY, False), (E, b"e1", 1, PRIORITY_EVENT, False)])
    assert out == [None, 0], "the telemetry is dropped, the event after it in the batch is still held"
    assert (ob.held(), ob.lost()) == (1, 2)


def test_storage_problems_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ob = _ob(tmp_path, memory_max=7, retry_s=0)

    def bad(_r: StorageReport) -> None:
        raise RuntimeError("listener bug")

    ob.on_storage_report(bad)
    with caplog.at_level(logging.INFO, logger="edge.runtime.outbox"):
        _fill(ob._db)
        ob.enqueue(E, b"x" * 5000)
        _free(ob._db)
        ob.retry_pending()
    assert caplog.messages[:3] == [
        f"outbox {ob.path}: cannot write (database or disk is full); keeping up to 7 messages in memory until it can",
        f"outbox {ob.path}: writing again; 1 messages kept in memory were written, 0 lost",
        "outbox storage listener failed"]


def test_room_is_made_by_dropping_several_telemetry_rows_around_several_in_flight(tmp_path: Path) -> None:
    ob = _ob(tmp_path, max_messages=5)
    for i in range(5):
        ob.enqueue(T, f"t{i}".encode(), qos=0, priority=PRIORITY_TELEMETRY)
    t0, t1 = ob.take(2)
    ob.mark_sent(t0.id, 1, 0)
    ob.mark_sent(t1.id, 2, 0)  # two rows in flight: they are not dropped
    blobs = [b"img-1"]
    ob.enqueue_event(REF, _event(1, "info", blobs), blobs)  # two rows: two telemetry rows must go
    assert ob.dropped() == 2 and ob.depth() == 5
    assert [r.payload[:2] for r in ob.take(10)] == [b"im", b'{"', b"t4"]
    assert ob.acked([1, 2]) == 2 and ob.depth() == 3


def test_expiry_without_a_given_time_uses_the_monotonic_clock(tmp_path: Path) -> None:
    ob = _ob(tmp_path)
    ob.enqueue(E, b"a")
    (r,) = ob.take(1)
    ob.mark_sent(r.id, 1, 1)
    assert ob.expire_inflight(3600, since=0.0) == 0 and ob.inflight() == 1
    assert ob.expire_inflight(0.0, since=0.0, now=time.monotonic() + 1) == 1 and ob.inflight() == 0
    assert ob.acked([1]) == 0, "an expired row's id is forgotten"


def test_a_damaged_file_that_cannot_even_be_opened_is_an_unknown_loss(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "o.sqlite"
    old = Outbox(path)
    old.enqueue(E, b"a")
    old.close()
    _damage_freelist(path)
    real = sqlite3.connect

    def connect(database: object, *a: object, **kw: object) -> sqlite3.Connection:
        if "mode=ro" in str(database):  # the damaged copy: permission denied, a vanished card…
            raise sqlite3.OperationalError("unable to open database file")
        return real(database, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite3, "connect", connect)
    ob = Outbox(path)
    monkeypatch.undo()
    loss = ob.startup_loss
    assert loss is not None and loss.moved_to.name.startswith("o.sqlite.corrupt-")
    assert (loss.salvaged, loss.lost, loss.error) == (0, None, "unable to open database file")
    assert ob.depth() == 0 and ob.lost() == 0
