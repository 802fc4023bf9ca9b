"""Poison payloads never stall ingest: whatever a message does (not JSON, nested too deep, NaN, numbers out of range,
a schema it does not fit, a handler that raises on it), it is rejected alone, counted by reason, acknowledged, and
the messages around it are stored; a stored payload can never make /api/v1/events fail."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from sqlalchemy import func, insert, select

from linli import contract
from linli.contract import DeviceRef, Kind, new_id
from linli.contract.lift_guard import BlockStarted
from linli.contract.probe import InputChanged
from linli.testing import TestBroker, wait_for
from server.app import create_app
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import Device, Event
from server.ingest.registry import HandlerRegistry, IngestContext
from server.ingest.service import Ingest
from server.ingest.stats import IngestStats
from server.ingest.store import Incoming
from server.kinds import ServerKinds
from server.settings import DatabaseSettings, IngestSettings
from server.storage import SnapshotStore
from server.testing import DevicePool, DeviceSim, jbody, make_settings, running, stored

PROBE = DeviceRef("fuzz", Kind.probe, "p-fuzz")
LIFT = DeviceRef("fuzz", Kind.lift_guard, "l-fuzz")


def _boom(ctx: IngestContext, ev: contract.Event, data: InputChanged) -> None:
    if data.input == "boom":
        raise RuntimeError("a handler that fails on this one event")


@dataclass
class Bench:
    db: Database
    stats: IngestStats
    ingest: Ingest

    def stored(self, ids: list[str]) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(Event).where(Event.id.in_(ids))) or 0)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    tmp = tmp_path_factory.mktemp("poison")
    db = Database(DatabaseSettings(url=f"sqlite:///{tmp / 'linli.db'}"))
    upgrade(db.engine)
    reg = HandlerRegistry()
    ServerKinds.load().register_handlers(reg)  # the kinds' real handlers (the lift guard's write its tables)
    reg.on_event(Kind.probe, _boom, types=InputChanged)
    stats = IngestStats(CollectorRegistry())
    yield Bench(db, stats, Ingest(IngestSettings(), db, SnapshotStore(tmp / "snaps"), stats, reg))
    db.engine.dispose()


# ----------------------------------------------------------------------------------------------- payloads
def _valid(i: int) -> tuple[str, bytes, str]:
    ev = contract.Event(type=InputChanged.EVENT.type, data=InputChanged(input=f"in{i}", active=True,
                                                                       count=i).to_data())
    return ev.id, ev.encode(), PROBE.event_topic


def _envelope(data_json: bytes, type_: str = "probe.input") -> bytes:
    return b'{"v":1,"id":"' + new_id().encode() + b'","type":"' + type_.encode() + b'","data":' + data_json + b"}"


HOSTILE: dict[str, Any] = {
    # name: strategy of (payload bytes, topic, reason it must be counted under)
    "deep": st.integers(33, 60_000).map(lambda n: (_envelope(b"[" * n + b"]" * n), "too_deep")),
    "deep_object": st.integers(33, 3_000).map(lambda n: (_envelope(b'{"a":' * n + b"1" + b"}" * n), "too_deep")),
    "nan": st.sampled_from([b"NaN", b"Infinity", b"-Infinity"]).map(
        lambda c: (_envelope(b'{"input":"x","active":true,"count":' + c + b"}"), "non_finite")),
    "huge_int": st.integers(20, 5_000).map(
        lambda n: (_envelope(b'{"input":"x","active":true,"count":' + b"9" * n + b"}"), "number_range")),
    "huge_float": st.sampled_from([b"1e999", b"-1e400"]).map(
        lambda c: (_envelope(b'{"input":"x","active":true,"count":' + c + b"}"), "number_range")),
    "wrong_types": st.sampled_from([b'{"input":1,"active":true,"count":1}', b'{"input":"x","active":[1],"count":1}',
                                    b'{"input":"x","active":true,"count":"many"}', b"[1,2]", b'"text"',
                                    b'{"input":"x","active":true,"count":-1}', b'{"extra":1}']).map(
        lambda d: (_envelope(d), "schema")),
    "garbage": st.binary(max_size=300).filter(lambda b: not b.strip().startswith(b"{")
                                              and b.count(b"[") + b.count(b"{") < 30).map(
        lambda b: (b, "malformed")),
    "not_object": st.sampled_from([b"[]", b"1", b"null", b'"x"']).map(lambda b: (b, "malformed")),
    "surrogate": st.just((_envelope(b'{"input":"\\ud800","active":true,"count":1}'), "malformed")),
    "envelope": st.sampled_from([b'{"v":1,"type":"BAD TYPE"}', b'{"v":2,"type":"probe.input"}',
                                 b'{"v":1,"type":"probe.input","data":{},"blobs":"x"}']).map(
        lambda b: (b, "schema")),
    "handler_raises": st.just((b"", "handler_error")),  # filled in below: a valid event the handler fails on
    "lift_schema": st.just((_envelope(b'{"block_id":"nope","cls":"ebike"}', BlockStarted.EVENT.type),
                            "schema")),
}


def _boom_event() -> bytes:
    return contract.Event(type=InputChanged.EVENT.type,
                          data=InputChanged(input="boom", active=False, count=0).to_data()).encode()


hostile = st.one_of(*[s.map(lambda p, name=name: (name, *p)) for name, s in HOSTILE.items()])
stream = st.lists(st.one_of(st.tuples(st.just("valid")), hostile), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(items=stream, cut=st.lists(st.integers(1, 40), max_size=4))
def test_hostile_payloads_among_valid_ones_exactly_the_valid_ones_are_stored(bench: Bench, items: list[tuple],
                                                                             cut: list[int]) -> None:
    msgs: list[Incoming] = []
    valid_ids: list[str] = []
    expected: dict[str, int] = {}
    for n, item in enumerate(items):
        if item[0] == "valid":
            ev_id, payload, topic = _valid(n)
            valid_ids.append(ev_id)
        else:
            name, payload, reason = item
            topic = (LIFT if name == "lift_schema" else PROBE).event_topic
            if name == "handler_raises":
                payload = _boom_event()
            expected[reason] = expected.get(reason, 0) + 1
        msgs.append(Incoming(topic, payload, qos=1, mid=n + 1, arrived_mono=time.monotonic()))
    before = dict(bench.stats.rejected)
    stored_before = bench.stats.stored
    # the batch as the writer takes it, cut where hypothesis says (one batch, or several)
    bounds = sorted({c for c in cut if c < len(msgs)})
    for a, b in zip([0, *bounds], [*bounds, len(msgs)], strict=True):
        bench.ingest.process(msgs[a:b])
    assert bench.stored(valid_ids) == len(valid_ids)
    assert bench.stats.stored - stored_before == len(valid_ids)
    counted = {r: bench.stats.rejected.get(r, 0) - before.get(r, 0) for r in set(bench.stats.rejected)}
    assert {r: n for r, n in counted.items() if n} == expected


def test_rejects_are_counted_by_kind_type_and_reason_in_metrics(bench: Bench) -> None:
    bench.ingest.process([Incoming(LIFT.event_topic, _envelope(b'{"block_id":"nope"}', "lift.block"), mid=1),
                          Incoming(PROBE.event_topic, _envelope(b"[" * 100 + b"]" * 100), mid=2)])
    assert bench.stats.rejects_of("lift_guard", "lift.block").get("schema", 0) >= 1
    assert bench.stats.rejects_of("probe", "probe.input").get("too_deep", 0) >= 1
    from prometheus_client import generate_latest

    text = generate_latest(bench.stats.registry).decode()
    assert 'linli_ingest_rejected_by_type_total{kind="lift_guard",reason="schema",type="lift.block"}' in text


def test_health_reports_a_stalled_writer(tmp_path: Path) -> None:
    db = Database(DatabaseSettings(url=f"sqlite:///{tmp_path / 'linli.db'}"))
    upgrade(db.engine)
    release = threading.Event()
    reg = HandlerRegistry()
    reg.on_event(Kind.probe, lambda ctx, ev, data: release.wait(20), types=InputChanged)
    ing = Ingest(IngestSettings(stall_s=0.3, batch_interval_ms=1), db, SnapshotStore(tmp_path / "s"),
                 IngestStats(CollectorRegistry()), reg)
    ing.start()
    try:
        assert ing.health()["ok"]
        ing.submit(Incoming(PROBE.event_topic, _valid(1)[1], mid=1))
        health = wait_for(lambda: (h := ing.health())["stalled"] and h, 10, what="stalled health")
        assert not health["ok"] and health["waiting"] == 1
        release.set()
        wait_for(lambda: ing.health()["ok"], 10, what="healthy again")
    finally:
        release.set()
        ing.stop()
        db.engine.dispose()


# ------------------------------------------------------------------------------------- real broker, server
def _events_api_ok(ls: Any) -> None:
    with ls.client() as c:
        page = jbody(c.get("/api/v1/events", params={"site": PROBE.site, "limit": 500}))
    assert isinstance(page["items"], list)


def test_poison_before_valid_events_stores_them_and_is_not_redelivered(
        mqtt_broker: TestBroker, device_pool: DevicePool, tmp_path: Path) -> None:
    ref, creds = device_pool["p3"]
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'linli.db'}", mqtt_broker,
                             client_id=f"poison-{new_id()[-8:].lower()}", ingest={"batch_interval_ms": 200})
    dev = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
    deep = _envelope(b"[" * 60_000 + b"]" * 60_000)  # 120 kB: under the size limit, far over the depth limit
    try:
        with running(create_app(settings, HandlerRegistry()), forget=False) as ls:
            dev.publish(ref.event_topic, deep)
            dev.publish(ref.event_topic, _envelope(b'{"input":"x","active":true,"count":NaN}'))
            valid = [dev.event(data=InputChanged(input="after-poison", active=True, count=i)) for i in range(5)]
            wait_for(lambda: stored(ls.server, *(e.id for e in valid)) == 5, 20, what="the valid events")
            rej = ls.server.stats.rejects_of("probe", "probe.input")
            assert rej.get("too_deep") == 1 and rej.get("non_finite") == 1
            _events_api_ok(ls)
            with ls.client() as c:
                health = c.get("/healthz")
            assert health.status_code == 200 and health.json()["ingest"] is True
        # the server restarts with the same session: the poison was acknowledged, so the broker has nothing to
        # redeliver; a fresh event goes straight through
        with running(create_app(settings, HandlerRegistry())) as ls:
            after = dev.event(data=InputChanged(input="after-restart", active=True, count=9))
            wait_for(lambda: stored(ls.server, after.id) == 1, 20, what="the event after the restart")
            time.sleep(0.5)
            assert ls.server.stats.rejects_of("probe", "probe.input") == {}  # nothing came back
    finally:
        dev.close()


def test_events_api_serves_a_page_with_a_payload_it_cannot_serve(tmp_path: Path, mqtt_broker: TestBroker) -> None:
    """Even a row that got into the table some other way (an older server) does not fail the page."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'linli.db'}", mqtt_broker)
    with running(create_app(settings, HandlerRegistry())) as ls:
        srv = ls.server
        good, bad, nan = new_id(), new_id(), new_id()
        with srv.db.session() as s:
            dev_id = s.execute(insert(Device).values(site="bad", kind="probe", device="old", state="unknown",
                                                     first_seen=contract.utcnow()).returning(Device.id)).scalar_one()
            for ev_id in (good, bad, nan):
                s.execute(insert(Event).values(id=ev_id, device_id=dev_id, type="probe.input", severity="info",
                                               ts=contract.utcnow(), received_at=contract.utcnow(),
                                               data={"input": "ok"}, blobs=[]))
            # rows as an older server stored them: nested 5000 deep, and a NaN
            raw = s.connection().exec_driver_sql
            raw("UPDATE events SET data = ? WHERE id = ?", ('{"x": ' + "[" * 5000 + "1" + "]" * 5000 + "}", bad))
            raw("UPDATE events SET data = ? WHERE id = ?", ('{"x": NaN}', nan))
        with ls.client() as c:
            r = c.get("/api/v1/events", params={"site": "bad"})
            one = c.get(f"/api/v1/events/{bad}")
        assert r.status_code == 200
        items = {e["id"]: e for e in r.json()["items"]}
        assert items[good]["data"] == {"input": "ok"} and items[bad]["data"] == {"unservable": "too_deep"}
        assert items[nan]["data"] == {"unservable": "non_finite"}
        assert one.status_code == 200 and one.json()["data"] == {"unservable": "too_deep"}
