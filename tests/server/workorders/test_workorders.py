"""Alarms → work orders: one order per device and fault (storms count on it), the full life-cycle with roles and
audit, SLA deadlines that survive a restart, offline devices detected by the periodic check."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from linli.testing import TestBroker, wait_for
from server.app import create_app
from server.db.models import AuditLog
from server.testing import DeviceFactory, DevicePool, DeviceSim, Live, jbody, known, make_settings, running, stored
from server.workorders.models import WorkOrder

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _orders(live: Live, fault: str) -> list[WorkOrder]:
    with live.server.db.session() as s:
        rows = list(s.query(WorkOrder).filter(WorkOrder.fault == fault).order_by(WorkOrder.id))
        for r in rows:
            s.expunge(r)
        return rows


def _audit(live: Live, action: str, target: str) -> list[AuditLog]:
    with live.server.db.session() as s:
        rows = list(s.query(AuditLog).filter(AuditLog.action == action, AuditLog.target == target)
                    .order_by(AuditLog.id))
        for r in rows:
            s.expunge(r)
        return rows


def test_alarm_storm_from_one_device_makes_one_order(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    known(live.server, dev.ref)
    fault = f"camera_fault_{uuid.uuid4().hex[:6]}"
    storm = [dev.event("probe.fault", severity="alarm", data={"fault": fault, "i": i}) for i in range(60)]
    info = dev.event("probe.fault", severity="info", data={"fault": fault})  # not an alarm: no order
    wait_for(lambda: stored(live.server, *[e.id for e in storm], info.id) == 61, what="the storm stored")
    (wo,) = _orders(live, fault)
    assert wo.occurrences == 60 and wo.state == "received" and wo.severity == "alarm" and wo.source == "event"
    assert wo.first_event_id == storm[0].id and wo.last_event_id == storm[-1].id
    # a second device with the same fault gets its own order; the fault key falls back to the event type
    other = device("p2")
    known(live.server, other.ref)
    ev = other.event("probe.fault", severity="alarm", data={"fault": fault})
    typ = f"probe.overheat_{uuid.uuid4().hex[:6]}"
    ev2 = other.event(typ, severity="alarm")
    wait_for(lambda: stored(live.server, ev.id, ev2.id) == 2, what="other device's alarms")
    assert len(_orders(live, fault)) == 2 and len(_orders(live, typ)) == 1
    with live.ls.client("manager") as http:
        listed = jbody(http.get("/api/v1/workorders", params={"state": "open"}))
        mine = [o for o in listed if o["fault"] == fault]
        assert sorted(o["device"] for o in mine) == sorted([dev.ref.device, other.ref.device])
        assert {o["occurrences"] for o in mine} == {60, 1}


def test_full_life_cycle_with_roles_photo_and_audit(live: Live, device: DeviceFactory) -> None:
    dev = device("p3")
    known(live.server, dev.ref)
    fault = f"arm_fault_{uuid.uuid4().hex[:6]}"
    ev = dev.event("probe.fault", severity="alarm", data={"fault": fault})
    wait_for(lambda: stored(live.server, ev.id) == 1, what="alarm")
    (wo,) = _orders(live, fault)
    url = f"/api/v1/workorders/{wo.id}"
    with live.ls.client("maint") as maint, live.ls.client("manager") as mgr, live.ls.client("admin") as admin:
        order = jbody(maint.get(url))
        assert order["state"] == "received" and order["steps"] == ["note", "acknowledge"]  # maintenance cannot dispatch
        assert maint.post(url + "/steps/dispatch", json={"assignee": "maint"}).status_code == 403
        assert mgr.post(url + "/steps/handle", json={"note": "x"}).status_code == 409  # not dispatched yet
        assert mgr.post(url + "/steps/dispatch", json={}).status_code == 422  # assignee needed
        assert mgr.post(url + "/steps/dispatch", json={"assignee": "nobody"}).status_code == 422
        assert mgr.post(url + "/steps/bogus", json={}).status_code == 422
        r = mgr.post(url + "/steps/dispatch", json={"assignee": "maint"})
        assert r.status_code == 200 and jbody(r)["state"] == "dispatched" and jbody(r)["assignee"] == "maint"
        assert "handle" in jbody(maint.get(url))["steps"]
        # a photo from the site: JPEG/PNG only, checked by its bytes
        bad = maint.post(url + "/photos", files={"file": ("x.png", b"not an image", "image/png")})
        assert bad.status_code == 415
        r = maint.post(url + "/photos", files={"file": ("fix.png", PNG, "image/png")})
        assert r.status_code == 201
        photo = jbody(r)["photos"][0]
        got = maint.get(photo["url"])
        assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
        assert maint.post(url + "/steps/handle", json={}).status_code == 422  # a note is required
        r = maint.post(url + "/steps/handle", json={"note": "replaced the limit switch"})
        assert jbody(r)["state"] == "handled" and jbody(r)["note"] == "replaced the limit switch"
        assert maint.post(url + "/steps/verify", json={}).status_code == 403
        r = mgr.post(url + "/steps/reject", json={"reason": "arm still sticks"})
        assert jbody(r)["state"] == "dispatched" and jbody(r)["handled_at"] is None
        maint.post(url + "/steps/handle", json={"note": "greased the hinge too"})
        assert jbody(mgr.post(url + "/steps/verify", json={}))["state"] == "verified"
        done = jbody(admin.post(url + "/steps/close", json={}))
        assert done["state"] == "closed" and done["closed_at"] and done["steps"] == []
        assert [lg["action"] for lg in done["log"]] == ["opened", "dispatch", "photo", "handle", "reject", "handle",
                                                          "verify", "close"]
        assert mgr.post(url + "/steps/note", json={"note": "late"}).status_code == 409
    target = f"workorder/{wo.id}"
    assert [a.who for a in _audit(live, "workorder.dispatch", target) if a.result == "ok"] == ["manager"]
    assert _audit(live, "workorder.handle", target)[-1].detail["note"] == "greased the hinge too"
    assert _audit(live, "workorder.reject", target)[0].detail["reason"] == "arm still sticks"
    assert any(a.result == "denied" and a.who == "maint" for a in _audit(live, "workorder.dispatch", target))
    assert _audit(live, "workorder.close", target)[0].who == "admin"
    # the fault comes back after closing: a new order
    again = dev.event("probe.fault", severity="alarm", data={"fault": fault})
    wait_for(lambda: stored(live.server, again.id) == 1, what="new alarm")
    orders = _orders(live, fault)
    assert [o.state for o in orders] == ["closed", "received"]


def test_manual_order_from_a_warning_and_cancel(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    known(live.server, dev.ref)
    warn = dev.event("probe.door_slow", severity="warning", data={"fault": f"slow_{uuid.uuid4().hex[:6]}"})
    wait_for(lambda: stored(live.server, warn.id) == 1, what="warning")
    fault = warn.data["fault"]
    assert _orders(live, fault) == []  # warnings do not open orders by themselves
    body = {"site": dev.ref.site, "kind": "probe", "device": dev.ref.device, "event_id": warn.id,
            "note": "residents complained"}
    with live.ls.client("maint") as http:
        r = http.post("/api/v1/workorders", json=body)
        assert r.status_code == 201, r.text
        order = jbody(r)
        assert order["fault"] == fault and order["source"] == "manual" and order["created_by"] == "maint"
        again = jbody(http.post("/api/v1/workorders", json=body))
        assert again["id"] == order["id"] and again["occurrences"] == 2  # still one open order
        assert http.post("/api/v1/workorders", json={**body, "event_id": "0" * 26}).status_code == 404
        assert http.post("/api/v1/workorders", json={**body, "event_id": None}).status_code == 422  # no fault
    with live.ls.client("manager") as http:
        url = f"/api/v1/workorders/{order['id']}/steps/cancel"
        assert http.post(url, json={}).status_code == 422  # a reason is required
        assert jbody(http.post(url, json={"reason": "false alarm"}))["state"] == "closed"


def test_sla_overdue_survives_a_restart(tmp_path: Path, mqtt_broker: TestBroker, device_pool: DevicePool) -> None:
    """Deadlines are stored: an order opened before a restart is marked overdue (督办) by the next server."""
    db = f"sqlite:///{tmp_path / 'sla.db'}"
    wo_cfg: dict[str, Any] = {"respond_min": 0.02, "fix_h": 0.0005, "check_interval_s": 0.2}
    settings = make_settings(tmp_path, db, mqtt_broker, workorders=wo_cfg)
    ref, creds = device_pool["p2"]
    dev = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
    fault = f"smoke_{uuid.uuid4().hex[:6]}"
    try:
        with running(create_app(settings)) as ls:
            known(ls.server, ref)
            ev = dev.event("probe.fault", severity="alarm", data={"fault": fault})
            wait_for(lambda: stored(ls.server, ev.id) == 1, what="alarm")
            with ls.client("admin") as http:
                (order,) = [o for o in jbody(http.get("/api/v1/workorders")) if o["fault"] == fault]
            assert order["overdue"] == []
            ls.server.checker.stop()  # the deadlines pass while no server checks them
        time.sleep(2.0)  # respond_by = +1.2 s, fix_by = +1.8 s
        with running(create_app(settings)) as ls, ls.client("manager") as http:
            url = f"/api/v1/workorders/{order['id']}"
            got = wait_for(lambda: (o := jbody(http.get(url)))["escalated_at"] and
                           len([lg for lg in o["log"] if lg["action"].startswith("overdue")]) == 2 and o, 10,
                           what="overdue marked after the restart")
            assert got["overdue"] == ["respond", "fix"]
            assert {lg["action"] for lg in got["log"]} >= {"overdue_respond", "overdue_fix"}
            assert any(o["id"] == order["id"] for o in jbody(http.get("/api/v1/workorders",
                                                                      params={"overdue": "true"})))
            page = http.get("/workorders", params={"state": "overdue"})
            assert page.status_code == 200 and "响应超时" in page.text and "处置超时" in page.text
            # dispatching late meets nothing: it stays overdue for the fix until handled
            http.post(url + "/steps/dispatch", json={"assignee": "maint"})
            assert jbody(http.get(url))["overdue"] == ["fix"]
            runs = ls.server.checker.runs
            wait_for(lambda: ls.server.checker.runs > runs + 2, what="more checks")
            assert len([lg for lg in jbody(http.get(url))["log"] if lg["action"].startswith("overdue")]) == 2
    finally:
        dev.close()


def test_offline_device_opens_an_order_and_recovers(tmp_path: Path, mqtt_broker: TestBroker,
                                                    device_pool: DevicePool) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'off.db'}", mqtt_broker,
                             workorders={"offline_after_min": 0.01, "check_interval_s": 0.2})
    ref, creds = device_pool["p3"]
    with running(create_app(settings)) as ls:
        dev = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
        known(ls.server, ref)
        dev.abort()  # power cut: the broker publishes the will (offline)

        def offline_order() -> dict[str, Any] | None:
            with ls.client("admin") as http:
                got = [o for o in jbody(http.get("/api/v1/workorders")) if o["device"] == ref.device
                       and o["fault"] == "device.offline"]
            return got[0] if got else None

        order = wait_for(offline_order, 15, what="offline order")
        assert order["source"] == "offline" and order["severity"] == "alarm" and order["recovered_at"] is None
        time.sleep(1.0)
        assert offline_order()["occurrences"] == 1  # one offline spell, however many checks
        back = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
        try:
            got = wait_for(lambda: (o := offline_order()) and o["recovered_at"] and o, 15, what="recovered")
            assert got["state"] == "received"  # staff still close it (they may want to know why it was off)
        finally:
            back.close()


def test_an_empty_assignee_list_explains_itself(tmp_path: Path, mqtt_broker: TestBroker) -> None:
    """A site with no maintenance account: the dispatch form says why nobody can be picked (and where an admin adds
    one) instead of an empty list, and its button is off."""
    from linli.contract import utcnow
    from server.db.models import Device
    from server.testing import user_entries

    users = [u for u in user_entries() if u["role"] == "admin" or u.get("sites")]  # nobody who sees sh-nobody
    # no ingest: this page needs no device traffic, and the shared broker's retained messages of other tests would
    # only compete for the SQLite write lock
    settings = make_settings(tmp_path / "srv", f"sqlite:///{tmp_path}/s.db", mqtt_broker, auth={"users": users},
                             ingest={"enabled": False})
    with running(create_app(settings)) as ls:
        with ls.server.db.session() as s:
            s.add(Device(site="sh-nobody", kind="probe", device="p-1", state="online", first_seen=utcnow()))
        with ls.client("admin") as admin:
            r = admin.post("/api/v1/workorders", json={"site": "sh-nobody", "kind": "probe", "device": "p-1",
                                                       "fault": "camera", "severity": "warning"})
            assert r.status_code == 201, r.text
            page = admin.get(f"/workorders/{r.json()['id']}", headers={"accept": "text/html"}).text
        assert 'id="no-assignees"' in page and "还不能派单" in page and 'href="/admin/users"' in page
        assert 'data-step="dispatch" disabled' in page
