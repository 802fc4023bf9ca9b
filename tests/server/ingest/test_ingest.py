"""MQTT ingest against a real Mosquitto and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from linli import contract
from linli.contract import DeviceRef, Kind
from linli.testing import wait_for
from server.db.models import Blob, Device, Event
from server.testing import DeviceFactory, Live, jbody, stored

if TYPE_CHECKING:
    from linli.testing import TestBroker

JPEG = b"\xff\xd8\xff\xe0" + b"linli-test-snapshot" * 50 + b"\xff\xd9"


def _device_row(live: Live, ref: DeviceRef) -> Device | None:
    with live.server.db.session() as s:
        return s.execute(select(Device).where(Device.site == ref.site, Device.kind == ref.kind.value,
                                              Device.device == ref.device)).scalar_one_or_none()


def _publish_as_server(broker: Any, topic: str, payload: bytes) -> None:
    """The server account may write anywhere under linli/v1/ — the only way to fake a topic no device owns."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set(broker.server.username, broker.server.password)
    c.connect(broker.host, broker.server_port)
    c.loop_start()
    try:
        c.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


def test_event_stored_once_with_its_fields(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    ts = datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC)
    ev = dev.event("probe.input", ts=ts, severity="warning", data={"input": "开门", "active": True, "count": 17})
    wait_for(lambda: stored(live.server, ev.id) == 1, what="event stored")
    with live.server.db.session() as s:
        row = s.get(Event, ev.id)
        assert row is not None
        assert row.ts == ts and row.ts.tzinfo is not None  # UTC in, aware UTC out, on both databases
        assert row.type == "probe.input" and row.severity == "warning"
        assert row.data == {"input": "开门", "active": True, "count": 17}
        assert row.blobs == []
        assert abs((row.received_at - datetime.now(UTC)).total_seconds()) < 30
    d = _device_row(live, dev.ref)
    assert d is not None and d.last_seen is not None
    assert abs((d.last_seen - datetime.now(UTC)).total_seconds()) < 30
    with live.ls.client() as http:
        e = jbody(http.get(f"/api/v1/events/{ev.id}"))
    assert (e["site"], e["kind"], e["device"], e["type"]) == ("west", "probe", "srv-p1", "probe.input")
    assert e["data"]["input"] == "开门" and datetime.fromisoformat(e["ts"]) == ts


def test_unknown_device_is_registered_by_its_first_message(live: Live, mqtt_broker: TestBroker) -> None:
    ref = DeviceRef("south", Kind.gate, f"g{uuid.uuid4().hex[:8]}")
    assert _device_row(live, ref) is None
    ev = contract.Event(type="gate.lists.applied", data={"version": 1, "entries": 0, "deleted": 0})
    _publish_as_server(mqtt_broker, ref.event_topic, ev.encode())
    wait_for(lambda: stored(live.server, ev.id) == 1, what="event stored")
    d = _device_row(live, ref)
    assert d is not None and d.state == "unknown" and d.first_seen is not None and d.last_seen is not None


def test_same_event_three_times_is_one_row(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    before = live.server.stats.snapshot()["duplicate"]
    ev = contract.Event(type="test.replay", data={"n": 1})
    for _ in range(3):
        dev.publish(dev.ref.event_topic, ev.encode())
    wait_for(lambda: live.server.stats.snapshot()["duplicate"] >= before + 2, what="2 duplicates counted")
    assert stored(live.server, ev.id) == 1
    assert live.recorder.events.count(ev.id) == 1  # kind handlers run once, never for the replays
    ev2 = dev.event("probe.input")  # duplicates were acknowledged: the flow goes on
    wait_for(lambda: stored(live.server, ev2.id) == 1, what="next event")


def test_blob_before_event_is_stored_and_served(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    data = JPEG + uuid.uuid4().bytes  # unique per run and backend
    sha = dev.blob(data)
    ev = dev.event("probe.snapshot", blobs=[sha])
    wait_for(lambda: stored(live.server, ev.id) == 1, what="event stored")
    path = live.server.snapshots.root / sha[:2] / f"{sha}.jpg"
    assert path.read_bytes() == data
    with live.server.db.session() as s:
        b = s.get(Blob, sha)
        assert b is not None and b.size == len(data) and b.purged_at is None
    with live.ls.client() as http:
        r = http.get(f"/api/v1/blobs/{sha}")
        assert r.status_code == 200 and r.content == data
        assert r.headers["content-type"] == "image/jpeg"
        e = jbody(http.get(f"/api/v1/events/{ev.id}"))
        assert e["blobs"] == [{"sha256": sha, "url": f"/api/v1/blobs/{sha}"}]
        assert http.get(f"/api/v1/blobs/{'0' * 64}").status_code == 404
    before = live.server.stats.snapshot()["duplicate"]
    dev.blob(data)  # the same snapshot again: a duplicate, not a second row
    wait_for(lambda: live.server.stats.snapshot()["duplicate"] > before, what="blob duplicate")


def test_blob_with_wrong_hash_is_rejected(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    wrong = contract.sha256_hex(uuid.uuid4().bytes)
    before = live.server.stats.snapshot()["rejected"].get("blob_hash", 0)
    dev.publish(dev.ref.blob_topic(wrong), JPEG)
    wait_for(lambda: live.server.stats.snapshot()["rejected"].get("blob_hash", 0) == before + 1, what="reject")
    assert not live.server.snapshots.exists(wrong)
    with live.server.db.session() as s:
        assert s.get(Blob, wrong) is None
    last = live.server.stats.snapshot()["last_rejects"][0]
    assert last["reason"] == "blob_hash" and last["topic"] == dev.ref.blob_topic(wrong)


def test_status_online_then_offline_by_will(live: Live, device: DeviceFactory) -> None:
    dev = device("p2")
    boot = datetime.now(UTC) - timedelta(minutes=5)
    dev.status("online", software="probe 0.3.1", config_version="7", hostname="pi-west-2", boot_time=boot)
    wait_for(lambda: (d := _device_row(live, dev.ref)) is not None and d.state == "online"
             and d.software == "probe 0.3.1", what="online")
    d = _device_row(live, dev.ref)
    assert d is not None
    assert (d.config_version, d.hostname) == ("7", "pi-west-2")
    assert d.boot_time is not None and abs((d.boot_time - boot).total_seconds()) < 0.001
    seen_online = d.last_seen
    dev.abort()  # socket closed without DISCONNECT: the broker publishes the retained will
    wait_for(lambda: (x := _device_row(live, dev.ref)) is not None and x.state == "offline", 10,
             what="offline via LWT")
    d = _device_row(live, dev.ref)
    assert d is not None
    assert d.software == "probe 0.3.1"  # the will does not wipe what the device said about itself
    assert d.last_seen == seen_online   # and the broker's will is no sign of life
    with live.ls.client() as http:
        listed = jbody(http.get("/api/v1/devices", params={"site": "west", "online": "false"}))
        assert dev.ref.key in {x["key"] for x in listed}
        one = jbody(http.get(f"/api/v1/devices/{dev.ref.key}"))
        assert one["state"] == "offline" and one["online"] is False


def test_rejects_are_counted_and_ingest_goes_on(live: Live, device: DeviceFactory, mqtt_broker: TestBroker) -> None:
    dev = device("p1")
    stats = live.server.stats
    before = dict(stats.snapshot()["rejected"])
    dev.publish(dev.ref.event_topic, b"{not json")
    dev.publish(dev.ref.event_topic, json.dumps({"v": 1, "id": contract.new_id(), "type": "BAD TYPE"}).encode())
    dev.publish(dev.ref.event_topic, json.dumps({"v": 2, "type": "probe.x"}).encode())
    dev.publish(dev.ref.event_topic, b'{"v":1,"type":"probe.big","data":{"x":"' + b"a" * 300_000 + b'"}}')
    dev.publish(dev.ref.status_topic, contract.Status(state="online", kind=Kind.gate).encode())
    _publish_as_server(mqtt_broker, f"linli/v1/west/toaster/{dev.ref.device}/event", b"{}")
    _publish_as_server(mqtt_broker, f"linli/v1/West/probe/{dev.ref.device}/event", b"{}")
    good = dev.event("probe.after_rejects")
    wait_for(lambda: stored(live.server, good.id) == 1, what="good event after the rejects")

    def grew(reason: str) -> int:
        return stats.snapshot()["rejected"].get(reason, 0) - before.get(reason, 0)

    wait_for(lambda: grew("unknown_topic") == 2, what="unknown topics counted")
    assert grew("malformed") == 1
    assert grew("schema") == 2          # bad type pattern; unsupported schema version
    assert grew("oversized") == 1
    assert grew("kind_mismatch") == 1
    assert live.server.ingest is not None and live.server.ingest.running
    with live.ls.client() as http:
        st = jbody(http.get("/api/v1/ingest/stats"))
        assert st["connected"] is True and st["enabled"] is True
        assert {"malformed", "schema", "oversized", "kind_mismatch", "unknown_topic"} <= {
            r["reason"] for r in st["last_rejects"][:7]}
        metrics = http.get("/metrics").text
        assert 'linli_ingest_rejected_total{reason="malformed"}' in metrics
        assert "linli_ingest_batch_size_bucket" in metrics and "linli_ingest_lag_seconds_count" in metrics
        assert 'linli_devices{state="online"}' in metrics


def test_telemetry_rows_and_latest_health(live: Live, device: DeviceFactory) -> None:
    dev = device("p3")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    tag = uuid.uuid4().hex[:6]
    dev.telemetry(ts=t0, gauges={"relay": True, "tag": tag})
    dev.telemetry(ts=t0 + timedelta(seconds=10), gauges={"relay": False, "tag": tag})
    wait_for(lambda: (d := _device_row(live, dev.ref)) is not None and d.health_at == t0 + timedelta(seconds=10),
             what="latest health on the device")
    d = _device_row(live, dev.ref)
    assert d is not None and d.health is not None
    assert d.health["cpu_pct"] == 12.5 and d.gauges == {"relay": False, "tag": tag}
    window = {"since": (t0 - timedelta(seconds=1)).isoformat(), "until": (t0 + timedelta(seconds=11)).isoformat()}
    with live.ls.client() as http:
        rows = jbody(http.get(f"/api/v1/devices/{dev.ref.key}/telemetry", params=window))
        assert [r["gauges"]["relay"] for r in rows] == [True, False]  # oldest first
        later = {**window, "since": (t0 + timedelta(seconds=5)).isoformat()}
        assert [r["gauges"]["relay"] for r in
                jbody(http.get(f"/api/v1/devices/{dev.ref.key}/telemetry", params=later))] == [False]
    assert live.recorder.telemetry.count(dev.ref.key) >= 2


def test_handler_error_rejects_only_that_message(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    before = live.server.stats.snapshot()["rejected"].get("handler_error", 0)
    good1, boom, good2 = (contract.Event(type=t) for t in ("test.ok", "test.boom", "test.ok"))
    for ev in (good1, boom, good2):  # back to back: usually one batch, which then goes message by message
        dev.client.publish(dev.ref.event_topic, ev.encode(), qos=1)
    wait_for(lambda: stored(live.server, good1.id, good2.id) == 2, what="the two good events")
    wait_for(lambda: live.server.stats.snapshot()["rejected"].get("handler_error", 0) == before + 1,
             what="handler_error counted")
    assert stored(live.server, boom.id) == 0
    assert live.server.ingest is not None and live.server.ingest.running
    after = dev.event("test.ok")
    wait_for(lambda: stored(live.server, after.id) == 1, what="ingest still running")


def test_event_filters_and_pages(live: Live, device: DeviceFactory) -> None:
    a, b = device("p1"), device("e1")
    tag = f"t{uuid.uuid4().hex[:8]}"
    base = datetime(2026, 1, 1, tzinfo=UTC)
    evs = [a.event(f"probe.{tag}a", ts=base + timedelta(minutes=i), severity="alarm" if i % 2 else "info")
           for i in range(5)]
    other = b.event(f"probe.{tag}b", ts=base + timedelta(minutes=10))
    wait_for(lambda: stored(live.server, *(e.id for e in evs), other.id) == 6, what="events")
    with live.ls.client() as http:
        got: list[str] = []
        cursor = None
        for _ in range(5):
            params: dict[str, Any] = {"device": a.ref.device, "type": f"probe.{tag}a", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = jbody(http.get("/api/v1/events", params=params))
            got += [e["id"] for e in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert got == [e.id for e in reversed(evs)]  # newest first, each once
        alarms = jbody(http.get("/api/v1/events", params={"type": f"probe.{tag}a", "severity": "alarm"}))
        assert [e["id"] for e in alarms["items"]] == [evs[3].id, evs[1].id]
        window = jbody(http.get("/api/v1/events", params={
            "type": f"probe.{tag}a", "since": (base + timedelta(minutes=1)).isoformat(),
            "until": (base + timedelta(minutes=3)).isoformat()}))
        assert [e["id"] for e in window["items"]] == [evs[2].id, evs[1].id]
        prefixed = jbody(http.get("/api/v1/events", params={"type": f"probe.{tag}*"}))
        assert len(prefixed["items"]) == 6
        east = jbody(http.get("/api/v1/events", params={"type": f"probe.{tag}*", "site": "east"}))
        assert [e["id"] for e in east["items"]] == [other.id]
        assert http.get("/api/v1/events", params={"severity": "panic"}).status_code == 422
        assert http.get("/api/v1/events", params={"cursor": "nonsense"}).status_code == 422
