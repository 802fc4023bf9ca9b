"""Who is told of what (issue 15, item 4): the contract declares each event type's audience; security events
become guard alerts shown on the gate page, device faults become work orders with a readable title, business
events become manager notices; alerts and orders can be acknowledged and cleared."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime

import pytest

from linli import contract
from linli.contract import DeviceRef, Kind, gate
from linli.testing import TestBroker, wait_for
from server.alerts.models import Alert
from server.testing import DeviceSim, Live, known, stored
from server.workorders.models import WorkOrder

PLATE = "沪B7C890"


def _csrf(live: Live, user: str) -> str:
    return hmac.new(live.server.csrf_key, f"basic\x00{user}".encode(), hashlib.sha256).hexdigest()[:32]


@pytest.fixture
def gate_dev(live: Live, mqtt_broker: TestBroker) -> DeviceSim:
    ref = DeviceRef("west", Kind.gate, f"gate-al-{uuid.uuid4().hex[:6]}")
    sim = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, mqtt_broker.provision(ref)[1])
    known(live.server, ref)
    yield sim
    sim.close()


def _passage(**kw: object) -> gate.PassageData:
    base = {"lane": "in1", "direction": "entry", "at": datetime.now(UTC), "plate": PLATE, "source": "lpr_push",
            "decision": "deny", "reason": "blacklist", "category": "blacklist", "opened": False}
    return gate.PassageData.model_validate({**base, **kw})


def test_audience_is_declared_in_the_contract() -> None:
    assert _passage().event_audience() == "guard"
    assert _passage(decision="open", reason="resident", category="resident", opened=True).event_audience() == \
        "record"
    models = contract.all_event_models()
    assert models["gate.tailgating"].EVENT.default_audience == "guard"
    assert models["door.forced_open"].EVENT.default_audience == "guard"
    assert models["gate.arm_fault"].EVENT.default_audience == "maintenance"
    assert models["charger.refused"].EVENT.default_audience == "manager"
    for t, m in models.items():  # every alarm has someone who is told
        if m.EVENT.severity == "alarm":
            assert m.EVENT.default_audience != "record", t


def test_blacklisted_car_raises_a_guard_alert_not_a_work_order(live: Live, gate_dev: DeviceSim) -> None:
    sha = gate_dev.blob(b"\xff\xd8snapshot" + uuid.uuid4().bytes)
    ev = gate_dev.event(gate.PassageData.EVENT.type, severity="alarm", data=_passage(), blobs=[sha])
    wait_for(lambda: stored(live.server, ev.id) == 1, what="the blacklist passage stored")
    dev = known(live.server, gate_dev.ref)
    with live.server.db.session() as s:
        assert s.query(WorkOrder).filter(WorkOrder.device_id == dev.id).count() == 0
        (al,) = s.query(Alert).filter(Alert.device_id == dev.id).all()
        assert (al.audience, al.state, al.type, al.detail["plate"]) == ("guard", "active", "gate.passage", PLATE)
        assert al.detail["snapshot"] == sha
        alert_id = al.id
    with live.ls.client("admin") as http:
        page = http.get("/gate", params={"lang": "zh"}).text
        assert "安保告警" in page and PLATE in page and "车辆通行" in page and "黑名单" in page
        assert f"/devices/west/gate/{gate_dev.ref.device}" in page and f"/api/v1/blobs/{sha}" in page
        r = http.post(f"/alerts/{alert_id}/acknowledge", data={"csrf": _csrf(live, "admin"), "back": "/gate"},
                      follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/gate")
        assert "已确认" in http.get("/gate", params={"lang": "zh"}).text
        # acknowledging twice is refused, clearing works and takes it off the page
        r = http.post(f"/alerts/{alert_id}/acknowledge", data={"csrf": _csrf(live, "admin")},
                      follow_redirects=False)
        assert "err=" in r.headers["location"]
        r = http.post(f"/alerts/{alert_id}/clear", data={"csrf": _csrf(live, "admin")}, follow_redirects=False)
        assert r.status_code == 303
        assert PLATE not in http.get("/gate").text
    with live.server.db.session() as s:
        al = s.get(Alert, alert_id)
        assert al.state == "cleared" and al.cleared_by == "admin" and al.open_key is None
    # the next blacklisted car raises a new alert
    ev2 = gate_dev.event(gate.PassageData.EVENT.type, severity="alarm", data=_passage(lane="in2"))
    wait_for(lambda: stored(live.server, ev2.id) == 1, what="the second passage stored")
    with live.server.db.session() as s:
        assert s.query(Alert).filter(Alert.device_id == dev.id, Alert.state == "active").count() == 1


def test_device_fault_opens_a_readable_work_order_that_can_be_acknowledged_and_cleared(
        live: Live, gate_dev: DeviceSim) -> None:
    data = gate.ArmFault(lane="in1", at=datetime.now(UTC), detail="stuck_open", seconds=12.0)
    ev = gate_dev.event(gate.ArmFault.EVENT.type, severity="alarm", data=data)
    wait_for(lambda: stored(live.server, ev.id) == 1, what="the arm fault stored")
    dev = known(live.server, gate_dev.ref)
    with live.server.db.session() as s:
        (wo,) = s.query(WorkOrder).filter(WorkOrder.device_id == dev.id).all()
        assert s.query(Alert).filter(Alert.device_id == dev.id).count() == 0
        wo_id = wo.id
    with live.ls.client("admin") as http:
        zh = http.get(f"/workorders/{wo_id}", params={"lang": "zh"}).text
        assert "道闸故障" in zh and "车道" in zh and "12 秒" in zh
        assert f"/devices/west/gate/{gate_dev.ref.device}" in zh
        assert "Barrier arm fault" in http.get(f"/workorders/{wo_id}", params={"lang": "en"}).text
        listed = http.get("/workorders", params={"lang": "zh"}).text
        assert "道闸故障" in listed and "gate.arm_fault" not in listed
    with live.ls.client("maint") as http:
        r = http.post(f"/api/v1/workorders/{wo_id}/steps/acknowledge", json={})
        assert r.status_code == 200 and r.json()["state"] == "dispatched" and r.json()["assignee"] == "maint"
    with live.ls.client("manager") as http:
        r = http.post(f"/api/v1/workorders/{wo_id}/steps/clear", json={})
        assert r.status_code == 200 and r.json()["state"] == "closed"


def test_business_event_is_a_manager_notice(live: Live, mqtt_broker: TestBroker) -> None:
    from linli.contract import charger

    ref = DeviceRef("west", Kind.charger, f"pile-al-{uuid.uuid4().hex[:6]}")
    sim = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, mqtt_broker.provision(ref)[1])
    try:
        known(live.server, ref)
        ev = sim.event(charger.Refused.EVENT.type, severity="warning",
                       data=charger.Refused(source="card", port=2, user="c1", reason="no_balance"))
        wait_for(lambda: stored(live.server, ev.id) == 1, what="the refusal stored")
        dev = known(live.server, ref)
        with live.server.db.session() as s:
            (al,) = s.query(Alert).filter(Alert.device_id == dev.id).all()
            assert al.audience == "manager" and s.query(WorkOrder).filter(WorkOrder.device_id == dev.id).count() == 0
        with live.ls.client("manager") as http:
            page = http.get("/alerts", params={"audience": "manager", "lang": "zh"}).text
            assert "充电请求被拒绝" in page and ref.device in page
    finally:
        sim.close()
