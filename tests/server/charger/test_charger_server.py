"""The charger on the server: bills stored once per order however often they come, settle_ack sent back, remote
start/stop audited, tariffs versioned and pushed, pages in Chromium. One live server per backend for the module."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from linli.contract import DeviceRef, Kind, utcnow
from linli.testing import PostgresCluster, TestBroker, chromium, screenshot, wait_for
from server.app import create_app
from server.charger.models import ChargerOrder
from server.db.models import AuditLog
from server.testing import PASSWORDS, DeviceSim, LiveServer, make_settings, running

SITE = "chg-west"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def srv(request: pytest.FixtureRequest, mqtt_broker: TestBroker,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('chgdb') / 'linli.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database(f"chg_{uuid.uuid4().hex[:8]}")
    settings = make_settings(tmp_path_factory.mktemp("chgdata"), url, mqtt_broker)
    with running(create_app(settings)) as ls:  # the kind's own handlers and services, as in production
        yield ls


@pytest.fixture(scope="module")
def pile(mqtt_broker: TestBroker) -> Iterator[DeviceSim]:
    sim = DeviceSim.provisioned(mqtt_broker, DeviceRef(SITE, Kind.charger, "pile-s1"))
    yield sim
    sim.close()


def gauges(states: dict[int, str]) -> dict[str, Any]:
    g: dict[str, Any] = {"mcu_ok": True, "meter_ok": True, "smoke": False, "pile_power_w": 231.0, "meter_kwh": 12.5,
                         "tariff_version": 1, "settlements_pending": 0}
    for n in range(1, 11):
        g[f"p{n}_state"] = states.get(n, "idle")
        g[f"p{n}_w"] = 115.0 if states.get(n) == "charging" else 0.0
        g[f"p{n}_wh"] = 40.0 if states.get(n) == "charging" else None
    return g


def settlement(order: str, attempt: int = 1, **over: Any) -> dict[str, Any]:
    end = utcnow()
    doc = {"order_id": order, "port": 3, "source": "remote", "user": "app:138", "mode": "time_tiers",
           "tariff_version": 1, "started_at": (end - timedelta(hours=6)).isoformat(), "ended_at": end.isoformat(),
           "charged_s": 6 * 3600, "energy_wh": 640.0, "max_power_w": 125.0, "tier_w": 200, "amount_fen": 150,
           "prepaid_fen": 500, "refund_fen": 350, "stop_reason": "full", "resumed": 0, "attempt": attempt}
    return {**doc, **over}


def order(ls: LiveServer, oid: str) -> ChargerOrder | None:
    with ls.server.db.session() as s:
        return s.execute(select(ChargerOrder).where(ChargerOrder.order_id == oid)).scalar_one_or_none()


def acks_for(sim: DeviceSim, oid: str) -> list[Any]:
    return [c for name, c in sim.commands() if name == "settle_ack" and oid in c.args["order_ids"]]


def test_settlement_resent_after_a_lost_ack_is_billed_once(srv: LiveServer, pile: DeviceSim) -> None:
    oid = f"o-{uuid.uuid4().hex[:8]}"
    pile.event("charger.session_started", data={
        "order_id": oid, "port": 3, "source": "remote", "user": "app:138", "mode": "time_tiers", "tariff_version": 1,
        "prepaid_fen": 500, "prepaid_s": 0, "started_at": (utcnow() - timedelta(hours=6)).isoformat()})
    wait_for(lambda: (o := order(srv, oid)) is not None and o.state == "running", 10, what="running order")
    pile.event("charger.settlement", data=settlement(oid))
    wait_for(lambda: acks_for(pile, oid), 10, what="settle_ack for the first settlement")
    # the device did not get that ack (it was offline): it resends the same order with a new event id
    pile.event("charger.settlement", data=settlement(oid, attempt=2, amount_fen=999))
    wait_for(lambda: len(acks_for(pile, oid)) >= 2, 10, what="a second settle_ack")
    wait_for(lambda: order(srv, oid).acks_sent >= 2, 10, what="second ack recorded")  # type: ignore[union-attr]
    o = order(srv, oid)
    assert o is not None and o.state == "settled" and o.amount_fen == 150 and o.refund_fen == 350
    assert o.settlements_received == 2 and o.acks_sent >= 2 and not o.ack_due
    with httpx.Client(base_url=srv.url, auth=("manager", PASSWORDS["manager"])) as c:
        rows = [r for r in c.get("/api/v1/charger/orders", params={"site": SITE}).json() if r["order_id"] == oid]
        assert len(rows) == 1 and rows[0]["amount_fen"] == 150 and rows[0]["stop_reason"] == "full"
        stats = c.get("/api/v1/charger/stats").json()
        assert stats["totals"]["sessions"] >= 1 and stats["days"][0]["kwh"] >= 0.64
    # a malformed settlement is refused by validation and bills nothing
    pile.event("charger.settlement", data={"order_id": "bad", "port": 99})
    pile.event("charger.settlement", data=settlement(f"{oid}-x"))
    wait_for(lambda: order(srv, f"{oid}-x") is not None, 10, what="next good settlement")
    assert order(srv, "bad") is None


def test_remote_start_and_stop_are_audited_and_refused_without_permission(srv: LiveServer, pile: DeviceSim) -> None:
    pile.telemetry(gauges=gauges({3: "charging"}))
    with httpx.Client(base_url=srv.url, auth=("maint", PASSWORDS["maint"]), timeout=10) as c:
        wait_for(lambda: any(p["device"] == "pile-s1" and p["ports"] for p in c.get("/api/v1/charger/piles").json()),
                 10, what="port map")
        piles = {p["device"]: p for p in c.get("/api/v1/charger/piles").json()}
        assert piles["pile-s1"]["ports"][2] == {"n": 3, "state": "charging", "w": 115.0, "wh": 40.0}
        r = c.post(f"/api/v1/charger/piles/{SITE}/pile-s1/ports/5/start",
                   json={"prepaid_fen": 300, "order_id": "pay-1"})
        assert r.status_code == 202 and r.json()["order_id"] == "pay-1" and r.json()["published"]
        bad = c.post(f"/api/v1/charger/piles/{SITE}/pile-s1/ports/11/start", json={})
        assert bad.status_code == 422 and "no port 11" in bad.text
        r = c.post(f"/api/v1/charger/piles/{SITE}/pile-s1/ports/3/stop", json={"reason": "resident asked by phone"})
        assert r.status_code == 202
    wait_for(lambda: {n for n, _ in pile.commands()} >= {"start", "stop"}, 10, what="commands at the pile")
    start = next(c for n, c in pile.commands() if n == "start")
    assert start.args == {"port": 5, "prepaid_fen": 300, "minutes": 0, "order_id": "pay-1", "user": "maint"}
    with httpx.Client(base_url=srv.url, auth=("manager", PASSWORDS["manager"])) as c:
        denied = c.post(f"/api/v1/charger/piles/{SITE}/pile-s1/ports/5/start", json={})
        assert denied.status_code == 403
    with srv.server.db.session() as s:
        rows = list(s.scalars(select(AuditLog).where(AuditLog.action.in_(["charger.start", "charger.stop"]))))
    assert {(r.who, r.action, r.result) for r in rows} >= {("maint", "charger.start", "ok"),
                                                           ("maint", "charger.stop", "ok"),
                                                           ("manager", "charger.start", "denied")}
    assert any(r.detail.get("reason") == "resident asked by phone" for r in rows if r.action == "charger.stop")


def test_tariff_versions_are_validated_stored_and_pushed(srv: LiveServer, pile: DeviceSim) -> None:
    with httpx.Client(base_url=srv.url, auth=("admin", PASSWORDS["admin"]), timeout=10) as c:
        bad = c.post(f"/api/v1/charger/tariffs/{SITE}", json={"mode": "energy_tou", "tou": [
            {"start": "08:00", "end": "22:00", "yuan_per_kwh": 1.0}]})
        assert bad.status_code == 422 and "no band covers 00:00" in bad.text
        r = c.post(f"/api/v1/charger/tariffs/{SITE}", json={"mode": "energy_tou", "tou": [
            {"start": "08:00", "end": "22:00", "yuan_per_kwh": 1.2}, {"start": "22:00", "end": "08:00",
                                                                      "yuan_per_kwh": 0.6}]})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["version"] >= 2 and body["pushed"] == [{"device": "pile-s1", "published": True}]
        assert c.get(f"/api/v1/charger/tariffs/{SITE}").json()["version"] == body["version"]
    wait_for(lambda: pile.messages(pile.ref.config_desired_topic), 10, what="desired config at the pile")


def _login(page: Any, base: str, user: str) -> None:
    page.goto(base + "/login?next=/charger")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORDS[user])
    page.press("input[name=password]", "Enter")
    page.wait_for_url(re.compile(r".*/charger$"))


@pytest.mark.browser
def test_pages_show_ports_bills_and_start_a_port(srv: LiveServer, pile: DeviceSim) -> None:
    if "sqlite" not in str(srv.server.settings.database.url):
        pytest.skip("pages are checked once (SQLite)")
    pile.telemetry(gauges=gauges({1: "charging", 2: "float", 4: "fault", 6: "authorised"}))
    pile.event("charger.fault", severity="alarm", data={"fault": "overload", "port": 4, "active": True,
                                                        "detail": "port 4: overload", "value": 812.0})
    oid = f"o-{uuid.uuid4().hex[:8]}"
    pile.event("charger.settlement", data=settlement(oid))
    wait_for(lambda: order(srv, oid) is not None, 10, what="bill")
    with chromium() as ctx:
        page = ctx.new_page()
        _login(page, srv.url, "maint")
        assert "充电桩" in page.content()
        cell = page.locator("#port-1")
        assert cell.get_attribute("data-state") == "charging" and "充电中" in cell.inner_text()
        assert page.locator(f"#orders tr[data-order='{oid}']").inner_text().count("¥1.50") == 1
        assert "端口过载" in page.locator("#faults").inner_text()
        screenshot(page, "charger-server-overview")
        page.click(f"a[href='/charger/{SITE}/pile-s1']")
        page.wait_for_selector("#port-actions")
        screenshot(page, "charger-server-pile")
        page.fill("#port-actions tr:nth-child(5) input[name=prepaid_yuan]", "3")
        page.click("#start-5")
        page.wait_for_selector("#done")
        assert "已发送启动命令" in page.locator("#done").inner_text()
        screenshot(page, "charger-server-pile-started")
        page.goto(srv.url + "/charger?lang=en")
        assert "Charging piles" in page.content() or "Piles and ports" in page.content()
        screenshot(page, "charger-server-overview-en")
    wait_for(lambda: any(n == "start" and c.args.get("prepaid_fen") == 300 and c.by == "maint"
                         for n, c in pile.commands()), 10, what="start from the page")


def test_dashboard_panels_give_energy_and_revenue_per_day(srv: LiveServer, pile: DeviceSim) -> None:
    oid = f"o-{uuid.uuid4().hex[:8]}"
    pile.event("charger.settlement", data=settlement(oid, energy_wh=1500.0, amount_fen=420))
    wait_for(lambda: order(srv, oid) is not None, 10, what="bill")
    with httpx.Client(base_url=srv.url, auth=("manager", PASSWORDS["manager"]), timeout=10) as c:
        energy = c.get("/api/v1/dashboards/panels/charger.energy").json()
        revenue = c.get("/api/v1/dashboards/panels/charger.revenue").json()
        reasons = c.get("/api/v1/dashboards/panels/charger.reasons").json()
    assert energy["unit"] == "kWh" and revenue["unit"] == "元"
    today = energy["labels"][-1]
    kwh = {s["name"]: s["values"][-1] for s in energy["series"]}
    yuan = {s["name"]: s["values"][-1] for s in revenue["series"]}
    assert kwh["pile-s1"] >= 1.5 and yuan["pile-s1"] >= 4.2, (today, kwh, yuan)
    assert any(s["name"] == "已充满" and s["values"][-1] >= 1 for s in reasons["series"])  # the contract's name
