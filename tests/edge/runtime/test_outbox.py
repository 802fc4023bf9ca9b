"""The SQLite outbox: order (alarms first, blobs before their event), bounds, counters, restart survival, and
rows leaving only on acknowledgement — unit level and against the real broker."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from edge.runtime.config import MqttConfig
from edge.runtime.harness import DevicePool, Recorder, clear_retained
from edge.runtime.link import Link
from edge.runtime.metrics import Stats
from edge.runtime.outbox import (
    PRIORITY_ALARM,
    PRIORITY_EVENT,
    PRIORITY_TELEMETRY,
    Outbox,
    TokenBucket,
)
from linli.contract import DeviceRef, Event, Kind, Status, sha256_hex
from linli.provision import read_credentials
from linli.testing import wait_for

if TYPE_CHECKING:
    from linli.testing import TestBroker

REF = DeviceRef("t-site", Kind.probe, "ob1")


def _ev(type_: str, severity: str = "info", blobs: list[bytes] | None = None) -> Event:
    return Event(type=type_, severity=severity, blobs=[sha256_hex(b) for b in blobs or []])  # type: ignore[arg-type]


def _drain(ob: Outbox) -> list[tuple[str, bytes]]:
    """Take everything in send order, acknowledging as we go (as the link would)."""
    out = []
    mid = 0
    while True:
        rows = ob.take(3)
        if not rows:
            return out
        for r in rows:
            mid += 1
            ob.mark_sent(r.id, mid, r.qos)
            out.append((r.topic, r.payload))
        ob.acked(range(mid - len(rows) + 1, mid + 1))


def test_alarms_first_and_blobs_before_their_event(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.enqueue(REF.telemetry_topic, b"t1", qos=0, priority=PRIORITY_TELEMETRY)
    ob.enqueue_event(REF, _ev("a.first"))
    alarm_blobs = [b"\xff\xd8\xffjpeg-1", b"\xff\xd8\xffjpeg-2"]
    alarm = _ev("a.alarm", "alarm", alarm_blobs)
    ob.enqueue_event(REF, alarm, alarm_blobs)
    ob.enqueue_event(REF, _ev("a.second"))
    order = _drain(ob)
    topics = [t for t, _ in order]
    assert topics[:3] == [REF.blob_topic(sha256_hex(alarm_blobs[0])), REF.blob_topic(sha256_hex(alarm_blobs[1])),
                          REF.event_topic]
    assert json.loads(order[2][1])["type"] == "a.alarm"
    assert [json.loads(p)["type"] for t, p in order[3:5]] == ["a.first", "a.second"]
    assert topics[5] == REF.telemetry_topic
    assert ob.depth() == 0


def test_event_blob_digests_must_match(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    with pytest.raises(ValueError, match="digests"):
        ob.enqueue_event(REF, _ev("x.y", blobs=[b"a"]), [b"b"])
    assert ob.depth() == 0


def test_bounded_drops_oldest_telemetry_never_events(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite", max_messages=10)
    for i in range(6):
        ob.enqueue(REF.telemetry_topic, f"t{i}".encode(), qos=0, priority=PRIORITY_TELEMETRY)
    for i in range(4):
        ob.enqueue_event(REF, _ev(f"e.n{i}"))
    assert ob.depth() == 10 and ob.dropped() == 0
    for i in range(3):  # full: each new event pushes out the oldest telemetry
        ob.enqueue_event(REF, _ev(f"e.m{i}"))
    assert ob.depth() == 10 and ob.dropped() == 3
    # a new telemetry message when full and only... still older telemetry there: oldest goes
    ob.enqueue(REF.telemetry_topic, b"t-new", qos=0, priority=PRIORITY_TELEMETRY)
    assert ob.dropped() == 4
    payloads = [p for _, p in _drain(ob)]
    assert b"t0" not in payloads and b"t3" not in payloads and b"t4" in payloads and b"t-new" in payloads
    assert sum(1 for p in payloads if p.startswith(b"{")) == 7  # every event is still there


def test_full_of_events_stores_more_events_and_drops_new_telemetry(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite", max_messages=10)
    for i in range(10):
        ob.enqueue_event(REF, _ev(f"e.n{i}"))
    assert ob.enqueue(REF.telemetry_topic, b"t", qos=0, priority=PRIORITY_TELEMETRY) is None
    assert ob.dropped() == 1
    ob.enqueue_event(REF, _ev("a.late", "alarm"))
    ob.enqueue_event(REF, _ev("e.late"))
    assert ob.depth() == 12 and ob.over_capacity() == 2
    assert json.loads(_drain(ob)[0][1])["type"] == "a.late"


def test_survives_restart_with_order_and_counters(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    ob = Outbox(path, max_messages=10)
    for i in range(10):
        ob.enqueue(REF.telemetry_topic, f"t{i}".encode(), qos=0, priority=PRIORITY_TELEMETRY)
    ob.enqueue_event(REF, _ev("e.one"))
    ob.enqueue_event(REF, _ev("a.one", "alarm"))
    rows = ob.take(2)
    for n, r in enumerate(rows):  # sent, never acknowledged: after a restart they go again
        ob.mark_sent(r.id, n + 1, r.qos)
    ob.close()

    ob2 = Outbox(path, max_messages=10)
    assert ob2.depth() == 10 and ob2.dropped() == 2 and ob2.inflight() == 0
    order = [p for _, p in _drain(ob2)]
    assert json.loads(order[0])["type"] == "a.one" and json.loads(order[1])["type"] == "e.one"
    assert order[2:] == [f"t{i}".encode() for i in range(2, 10)]
    ob2.close()
    assert Outbox(path).depth() == 0


def test_a_damaged_file_is_moved_aside_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    ob = Outbox(path)
    ob.enqueue_event(REF, _ev("e.after"))
    assert ob.depth() == 1
    assert [p.name for p in tmp_path.glob("o.sqlite.corrupt-*")]


def test_committed_before_it_is_handed_out(tmp_path: Path) -> None:
    """What take() returns is already on disk: another connection (a process after a power cut) sees it."""
    path = tmp_path / "o.sqlite"
    ob = Outbox(path)
    ob.enqueue_event(REF, _ev("e.one"))
    assert ob.take(1)
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()


def test_rows_leave_only_when_acknowledged(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.enqueue_event(REF, _ev("e.one"))
    ob.enqueue_event(REF, _ev("e.two"))
    r1, r2 = ob.take(5)
    ob.mark_sent(r1.id, 7, 1)
    ob.mark_sent(r2.id, 8, 1)
    assert ob.take(5) == []  # in flight: not handed out twice
    assert ob.acked([99]) == 0 and ob.depth() == 2
    assert ob.acked([8]) == 1 and ob.depth() == 1
    ob.connection_lost()  # QoS 1 stays in flight: paho re-sends it itself
    assert ob.take(5) == []
    ob.forget_inflight()  # a new client: everything unacknowledged goes again
    assert [r.id for r in ob.take(5)] == [r1.id]


def test_qos0_in_flight_is_released_when_the_connection_drops(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.enqueue(REF.telemetry_topic, b"t", qos=0, priority=PRIORITY_TELEMETRY)
    (r,) = ob.take(1)
    ob.mark_sent(r.id, 1, 0)
    assert ob.take(1) == []
    ob.connection_lost()
    assert [x.id for x in ob.take(1)] == [r.id]


def test_an_unacknowledged_row_is_released_after_the_ack_timeout(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.enqueue_event(REF, _ev("e.one"))
    ob.enqueue_event(REF, _ev("e.two"))
    r1, r2 = ob.take(5)
    ob.mark_sent(r1.id, 7, 1, now=100.0)
    ob.mark_sent(r2.id, 8, 1, now=104.0)
    # counted from the later of "sent" and "connected": a row sent before a reconnect gets the full timeout again
    assert ob.expire_inflight(5.0, since=101.0, now=106.0) == 0
    assert ob.expire_inflight(5.0, since=101.0, now=106.01) == 1  # r1: 5.01 s since the connection began
    assert ob.inflight() == 1 and [r.id for r in ob.take(5)] == [r1.id]
    assert ob.acked([7]) == 0  # the old message id no longer names the row
    ob.mark_sent(r1.id, 9, 1, now=106.0)
    assert ob.acked([9]) == 1 and ob.acked([8]) == 1 and ob.depth() == 0


def test_a_row_sent_again_forgets_its_old_message_id(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.enqueue_event(REF, _ev("e.one"))
    ob.enqueue_event(REF, _ev("e.two"))
    r1, r2 = ob.take(5)
    ob.mark_sent(r1.id, 7, 1)
    ob.mark_sent(r1.id, 9, 1)  # re-marked: mid 7 must not delete it later, nor keep a stale mapping
    ob.mark_sent(r2.id, 7, 1)  # the client reuses mid 7 for another row
    assert ob.acked([9]) == 1 and ob.depth() == 1
    assert ob.acked([7]) == 1 and ob.depth() == 0 and ob.inflight() == 0


def test_rejected_is_counted_and_removed(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.enqueue(REF.event_topic, b"{}", priority=PRIORITY_ALARM)
    (r,) = ob.take(1)
    ob.mark_sent(r.id, 5, 1)
    assert ob.rejected(5) == 1 and ob.depth() == 0 and ob.rejected_count() == 1


def test_bad_arguments(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    with pytest.raises(ValueError):
        ob.enqueue(REF.event_topic, b"x", qos=2)
    with pytest.raises(ValueError):
        ob.enqueue(REF.event_topic, b"x", priority=7)
    assert ob.depth() == 0


def test_token_bucket_limits_rate() -> None:
    now = [0.0]
    b = TokenBucket(10, clock=lambda: now[0])
    assert sum(b.take() for _ in range(50)) == 10  # the burst
    assert not b.take() and b.wait_time() == pytest.approx(0.1)
    now[0] += 0.5
    assert sum(b.take() for _ in range(50)) == 5


# ------------------------------------------------------------------------------------------ with MQTT
def _link(broker: TestBroker, ob: Outbox) -> tuple[DeviceRef, Link]:
    ((ref, secret),) = DevicePool.of(broker).take(1)
    cfg = MqttConfig(host=broker.host, port=broker.port, password_file=secret, keepalive=5, reconnect_min_s=0.1,
                     reconnect_max_s=0.3)
    return ref, Link(ref, cfg, read_credentials(secret), ob, Stats(),
                     lambda state: Status(state=state, kind=ref.kind), lambda msg: None)  # type: ignore[arg-type]


def test_rows_stay_while_the_broker_is_down_and_go_in_order_when_it_is_back(
        mqtt_broker: TestBroker, tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite", replay_rate_per_s=200, max_inflight=5)
    ref, link = _link(mqtt_broker, ob)
    rec = Recorder(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, [f"{ref.base}/#"])
    try:
        mqtt_broker.broker.stop()
        try:
            link.start()
            for i in range(30):
                ob.enqueue_event(ref, _ev("ob.test").model_copy(update={"data": {"n": i}}))
            time.sleep(0.8)
            assert not link.connected
            assert ob.depth() == 30  # nothing leaves without a PUBACK
        finally:
            mqtt_broker.broker.start()
        wait_for(lambda: ob.depth() == 0, 15, what="outbox drained after the broker came back")
        rec.wait(lambda: len(rec.events(ref, "ob.test")) >= 30, 10, what="all 30 events")
        assert [e.data["n"] for e in rec.events(ref, "ob.test")] == list(range(30))
        assert link.stats.get("publish_acks") == 30
    finally:
        link.stop(flush_s=0)
        rec.close()
        ob.close()
        clear_retained(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, [ref])


def test_a_lost_acknowledgement_does_not_stall_the_queue(mqtt_broker: TestBroker, tmp_path: Path) -> None:
    """The broker's PUBACK for some messages never reaches the outbox (a client library that dropped a message, a
    reused id, a lost ack): those rows are sent again after the ack timeout instead of staying in flight until a
    restart with the window shut."""
    ob = Outbox(tmp_path / "o.sqlite", replay_rate_per_s=500, max_inflight=3, ack_timeout_s=1.0)
    ref, link = _link(mqtt_broker, ob)
    swallowed: list[int] = []
    real = link._on_publish

    def lossy(client, userdata, mid, reason, properties):  # type: ignore[no-untyped-def]
        if len(swallowed) < 3 and mid in ob._by_mid:  # an outbox row's ack (not the status message's)
            swallowed.append(mid)
            return
        real(client, userdata, mid, reason, properties)

    link.client.on_publish = lossy
    rec = Recorder(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, [f"{ref.base}/#"])
    try:
        for i in range(6):
            ob.enqueue_event(ref, _ev("ob.lost").model_copy(update={"data": {"n": i}}))
        link.start()
        wait_for(lambda: ob.depth() == 0, 10, what="outbox drained although three acknowledgements were lost")
        assert len(swallowed) == 3 and link.stats.get("publish_retransmits") == 3
        rec.wait(lambda: {e.data["n"] for e in rec.events(ref, "ob.lost")} == set(range(6)), 10, what="all six")
    finally:
        link.stop(flush_s=0)
        rec.close()
        ob.close()
        clear_retained(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, [ref])


def test_rate_limit_paces_a_replay(mqtt_broker: TestBroker, tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite", replay_rate_per_s=20, max_inflight=50)
    ref, link = _link(mqtt_broker, ob)
    for i in range(30):
        ob.enqueue(ref.telemetry_topic, f"t{i}".encode(), qos=0, priority=PRIORITY_EVENT)
    t0 = time.monotonic()
    link.start()
    try:
        wait_for(lambda: ob.depth() == 0, 10, what="drained")
        # 20 in the first burst, the other 10 at 20/s: about 0.5 s; without the bucket it takes a few ms
        assert time.monotonic() - t0 >= 0.4
    finally:
        link.stop(flush_s=0)
        ob.close()
        clear_retained(mqtt_broker.host, mqtt_broker.server_port, mqtt_broker.server, [ref])
