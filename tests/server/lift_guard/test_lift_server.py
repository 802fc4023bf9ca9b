"""The server side of the lift guard on SQLite and PostgreSQL: ingest of lift events into blocks / faults / pauses
(idempotent, in any order, bad data ignored), figures per lift per day, the snapshot gallery under retention, and
the audited release command."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import cv2
import numpy as np
from sqlalchemy import select

from linli import contract
from linli.contract import lift_guard as lev
from linli.contract import new_id, utcnow
from linli.testing import wait_for
from server.alerts.models import Alert
from server.db.models import AuditLog, Event
from server.lift_guard.ingest import shanghai_day
from server.lift_guard.models import LiftFault, LiftPause
from server.retention import purge_snapshots
from server.testing import DeviceSim, jbody
from server.workorders.models import WorkOrder
from tests.server.lift_guard.conftest import SITE, LiftServer


def jpeg(seed: int) -> bytes:
    img = np.full((60, 80, 3), seed % 255, np.uint8)
    cv2.putText(img, str(seed), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
    return cv2.imencode(".jpg", img)[1].tobytes()


def block_data(block_id: str, **over: object) -> dict[str, object]:
    d = lev.BlockStarted(block_id=block_id, cls="ebike", label="motorcycle", score=0.93, scores=[0.9, 0.93, 0.95],
                         track_s=0.6, latency_ms=480.0, seen_ms=700.0, model="ssd@abc", relay=True,
                         objects=[lev.SeenObject(cls="ebike", label="motorcycle", score=0.93, box=(0.1, 0.4, 0.8, 0.95),
                                                 track=1)]).model_dump(mode="json")
    return {**d, **over}


def release_data(block_id: str, reason: str, hold_s: float, by: str | None = None) -> dict[str, object]:
    return lev.BlockEnded(block_id=block_id, reason=reason, hold_s=hold_s, cls="ebike", best_score=0.95,  # type: ignore[arg-type]
                          by=by, fault="max_hold" if reason == "max_hold" else None).model_dump(mode="json")


def test_lift_events_become_blocks_faults_and_pauses_with_daily_figures(
        lift_server: LiftServer, lift_device: Callable[[str], DeviceSim]) -> None:
    dev = lift_device("l1")
    srv = lift_server.ls
    b1, b2, b3 = new_id(), new_id(), new_id()
    snap = dev.blob(jpeg(1))
    dev.event(lev.BLOCK, severity="warning", data=block_data(b1), blobs=[snap])
    dev.event(lev.RELEASE, data=release_data(b1, "cleared", 12.5))
    # a block released by staff: the release replayed before its start (order is not guaranteed after an outage)
    dev.event(lev.RELEASE, data=release_data(b2, "remote", 40.0, by="mgr.wang"))
    start2 = dev.event(lev.BLOCK, severity="warning", data=block_data(b2, score=0.71), blobs=[dev.blob(jpeg(2))])
    # a longest hold: alarm
    dev.event(lev.BLOCK, severity="warning", data=block_data(b3))
    end3 = dev.event(lev.RELEASE, severity="alarm", data=release_data(b3, "max_hold", 180.0),
                     blobs=[dev.blob(jpeg(3))])
    dup = contract.Event(type=lev.BLOCK, severity="warning", data=block_data(new_id()))
    dev.publish(dev.ref.event_topic, dup.encode())
    dev.publish(dev.ref.event_topic, dup.encode())  # a replayed duplicate counts once
    bad_before = srv.server.stats.rejects_of("lift_guard", lev.BLOCK).get("schema", 0)
    bad = dev.event(lev.BLOCK, data={"block_id": "nope", "cls": "ebike"})  # malformed data: rejected, counted
    fault = dev.event(lev.FAULT, severity="alarm", data={"fault": "black", "detail": "view black",
                                                         "relay_released": True, "luma": 2.0, "contrast": 0.5})
    dev.event(lev.FAULT_CLEARED, data={"fault": "black", "duration_s": 30.0})
    open_fault = dev.event(lev.FAULT, severity="alarm", data={"fault": "covered", "detail": "lens covered",
                                                              "relay_released": False})
    until = utcnow() + timedelta(minutes=5)
    dev.event(lev.SUPPRESS, severity="warning", data={"by": "mgr.wang", "origin": "mqtt", "until": until.isoformat(),
                                                      "minutes": 5, "reason": "误报", "released_block": b2})
    last = dev.event(lev.RESUME, data={"why": "command", "by": "maint"})
    lift_server.stored(last.id)
    lift_server.stored(open_fault.id)

    r1, r2, r3 = lift_server.block(b1), lift_server.block(b2), lift_server.block(b3)
    assert r1 and r1.reason == "cleared" and r1.hold_s == 12.5 and r1.snapshot == snap and not r1.staff_release
    assert r1.latency_ms == 480.0 and r1.day == shanghai_day(r1.started_at)
    assert r2 and r2.reason == "remote" and r2.staff_release and r2.released_by == "mgr.wang"
    assert r2.started_at == start2.ts and r2.best_score == 0.95 and r2.score == 0.71
    assert r3 and r3.alarm and r3.end_snapshot is not None and r3.end_event == end3.id
    assert srv.server.stats.rejects_of("lift_guard", lev.BLOCK).get("schema", 0) == bad_before + 1
    with srv.server.db.session() as s:
        assert s.get(Event, bad.id) is None
    with srv.server.db.session() as s:
        faults = {f.fault: f for f in s.scalars(select(LiftFault).where(LiftFault.device_id == r1.device_id))}
        pause = s.scalars(select(LiftPause).where(LiftPause.device_id == r1.device_id)).one()
    assert faults["black"].id == fault.id and faults["black"].cleared_at is not None
    assert faults["black"].duration_s == 30.0 and faults["covered"].cleared_at is None
    assert pause.by == "mgr.wang" and pause.ended_why == "command" and pause.released_block == b2
    with srv.server.db.session() as s:  # alarms become work orders, one per lift and fault
        orders = {w.fault: w for w in s.scalars(select(WorkOrder).where(WorkOrder.device_id == r1.device_id))}
    assert set(orders) == {"black", "covered"}  # device faults: maintenance
    with srv.server.db.session() as s:  # a longest-hold release is a manager notice, not maintenance
        (notice,) = s.scalars(select(Alert).where(Alert.device_id == r1.device_id, Alert.type == "lift.release"))
        assert notice.audience == "manager" and notice.severity == "alarm"

    with srv.client("admin") as c:
        st = jbody(c.get("/api/v1/lift_guard/stats", params={"days": 1, "site": SITE}))
        lift = next(x for x in st["lifts"] if x["device"] == "lift-l1")
        assert lift["totals"] == {"day": "total", "blocks": 4, "staff_releases": 1, "max_hold": 1, "faults": 2}
        assert lift["open_faults"] == ["covered"]
        blocks = jbody(c.get("/api/v1/lift_guard/blocks", params={"device": "lift-l1"}))
        assert len(blocks) == 4 and {b["block_id"] for b in blocks} >= {b1, b2, b3}
        one = next(b for b in blocks if b["block_id"] == b1)
        assert one["snapshot"] == snap and one["snapshot_state"] == "available"
        assert [b["block_id"] for b in jbody(c.get("/api/v1/lift_guard/blocks",
                                                    params={"device": "lift-l1", "staff_only": True}))] == [b2]
        page2 = jbody(c.get("/api/v1/lift_guard/blocks", params={"device": "lift-l1", "limit": 2,
                                                                  "before": blocks[1]["block_id"]}))
        assert [b["block_id"] for b in page2] == [b["block_id"] for b in blocks[2:4]]
        opened = jbody(c.get("/api/v1/lift_guard/faults", params={"device": "lift-l1", "open": True}))
        assert [f["fault"] for f in opened] == ["covered"]
        # the dashboard panels (charts, CSV export) draw from the same tables on both databases
        today = r1.day
        blocks_panel = jbody(c.get("/api/v1/dashboards/panels/lift_guard.blocks", params={"site": SITE}))
        by_lift = {x["name"]: x["values"] for x in blocks_panel["series"]}
        assert by_lift["lift-l1"][blocks_panel["labels"].index(today)] == 4
        outcomes = jbody(c.get("/api/v1/dashboards/panels/lift_guard.outcomes", params={"site": SITE}))
        assert {x["name"]: x["values"][-1] for x in outcomes["series"]}["人工解除（误报）"] >= 1
        faults_panel = jbody(c.get("/api/v1/dashboards/panels/lift_guard.faults", params={"site": SITE}))
        assert {x["name"] for x in faults_panel["series"]} >= {"画面全黑", "摄像头被遮挡"}  # the contract's names
        lat = jbody(c.get("/api/v1/dashboards/panels/lift_guard.latency", params={"site": SITE}))
        assert lat["unit"] == "ms" and lat["series"][0]["values"][-1] == 480
        csv = c.get("/api/v1/dashboards/panels/lift_guard.blocks", params={"site": SITE, "format": "csv"})
        assert csv.status_code == 200 and "lift-l1" in csv.text
    with srv.client("maint") as c:  # maintenance staff fix devices: no snapshots (privacy)
        b = next(x for x in jbody(c.get("/api/v1/lift_guard/blocks", params={"device": "lift-l1"}))
                 if x["block_id"] == b1)
        assert b["snapshot"] is None and b["snapshot_state"] == "hidden"
    with srv.client("east") as c:  # a user of another site sees none of it
        assert jbody(c.get("/api/v1/lift_guard/blocks", params={"device": "lift-l1"})) == []
        assert jbody(c.get("/api/v1/lift_guard/stats"))["lifts"] == []

    # retention: 31 days later the snapshot files are gone; the blocks say so
    purge_snapshots(srv.server.db, srv.server.snapshots, 30, now=utcnow() + timedelta(days=31))
    with srv.client("admin") as c:
        one = next(b for b in jbody(c.get("/api/v1/lift_guard/blocks", params={"device": "lift-l1"}))
                   if b["block_id"] == b1)
        assert one["snapshot_state"] == "purged"
        assert c.get(f"/api/v1/blobs/{snap}").status_code == 410


def test_release_is_sent_to_the_lift_and_audited_and_refused_to_managers(
        lift_server: LiftServer, lift_device: Callable[[str], DeviceSim]) -> None:
    dev = lift_device("l2")
    lift_server.stored(dev.event("agent.started", data={"software": "test"}).id)
    srv = lift_server.ls
    url = f"/api/v1/lift_guard/devices/{SITE}/lift-l2/release"
    with srv.client("maint") as c:
        r = c.post(url, json={"minutes": 10, "reason": "误报：婴儿车"})
        assert r.status_code == 202, r.text
        out = jbody(r)
        assert out["name"] == "release" and out["by"] == "maint" and out["published"] is True
        assert c.post(url, json={"minutes": 10}).status_code == 422  # a reason is required
        assert c.post(url, json={"minutes": 1000, "reason": "xx"}).status_code == 422
        assert c.post(f"/api/v1/lift_guard/devices/{SITE}/no-such/release",
                      json={"reason": "xx"}).status_code == 404
    cmds = wait_for(lambda: [c for n, c in dev.commands() if n == "release"], 5, what="release command at the device")
    assert cmds[0].args == {"minutes": 10.0, "reason": "误报：婴儿车"} and cmds[0].by == "maint"
    assert (cmds[0].expires - cmds[0].issued).total_seconds() == 60
    with srv.client("manager") as c:
        assert c.post(url, json={"reason": "xx"}).status_code == 403
    with srv.client("maint") as c:
        assert c.post(f"/api/v1/lift_guard/devices/{SITE}/lift-l2/resume").status_code == 202
    with srv.server.db.session() as s:
        rows = list(s.scalars(select(AuditLog).where(AuditLog.target.like(f"{SITE}/%lift-l2"))
                              .order_by(AuditLog.id)))
    acts = [(a.who, a.action, a.result) for a in rows]
    assert ("maint", "lift_guard.release", "ok") in acts and ("manager", "lift_guard.release", "denied") in acts
    assert ("maint", "lift_guard.resume", "ok") in acts
    ok = next(a for a in rows if a.action == "lift_guard.release" and a.result == "ok")
    assert ok.detail["reason"] == "误报：婴儿车" and ok.detail["minutes"] == 10.0 and ok.detail["id"] == out["id"]
