"""Dashboards: the panel registry (kinds plug in their own), panel data per Shanghai day with a date range, CSV
export, the fleet table, and live updates over SSE."""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from datetime import date, timedelta

import httpx

from linli.contract import Kind, utcnow
from linli.i18n import to_local
from linli.testing import wait_for
from server.dashboards import ChartData, DashboardRegistry, Panel, PanelQuery, events_per_day
from server.dashboards.fleet import register as register_fleet
from server.kinds import ServerKinds
from server.testing import DeviceFactory, Live, jbody, known, stored


def _today() -> date:
    local = to_local(utcnow())
    assert local is not None
    return local.date()


def test_registry_takes_kind_panels_and_refuses_duplicates() -> None:
    reg = DashboardRegistry()
    register_fleet(reg)
    assert [p.id for p in reg.panels()][:2] == ["fleet.devices", "fleet.events"]
    assert {p.id for p in reg.panels(Kind.gate)} == {"gate.events", "gate.alarms", "gate.reporting"}

    def passages(q: PanelQuery) -> ChartData:
        return events_per_day(q, kind=Kind.gate, types="gate.passage*", split="device")

    reg.add(Panel("gate.passages", ("每日通行", "Passages per day"), passages, kind=Kind.gate, order=1))
    assert reg.panels(Kind.gate)[0].id == "gate.passages"
    try:
        reg.add(Panel("gate.passages", ("x", "x"), passages))
        raise AssertionError("duplicate accepted")
    except ValueError as exc:
        assert "twice" in str(exc)
    loaded = ServerKinds.load().register_dashboards(DashboardRegistry())  # every kind that declares a dashboard
    assert all(name.endswith(".dashboard") for name in loaded)


def test_panel_data_range_csv_and_fleet(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    known(live.server, dev.ref)
    typ = f"probe.dash_{uuid.uuid4().hex[:6]}"
    shown = typ.replace(".", " ").replace("_", " ")  # a type outside the contract is shown as its words
    evs = [dev.event(typ) for _ in range(3)]
    old = dev.event(typ, ts=utcnow() - timedelta(days=3))
    alarm = dev.event(typ, severity="alarm")
    dev.telemetry()
    wait_for(lambda: stored(live.server, *[e.id for e in [*evs, old, alarm]]) == 5, what="events")
    today = _today()
    with live.ls.client("manager") as http:
        panels = jbody(http.get("/api/v1/dashboards"))
        ids = {p["id"] for p in panels}
        assert {"fleet.devices", "fleet.events", "fleet.alarms", "fleet.reporting", "fleet.workorders",
                "fleet.faults", "probe.events"} <= ids
        r = jbody(http.get("/api/v1/dashboards/panels/probe.events",
                           params={"since": (today - timedelta(days=4)).isoformat(), "until": today.isoformat()}))
        assert r["labels"][-1] == today.isoformat() and len(r["labels"]) == 5
        (series,) = [s for s in r["series"] if s["name"] == shown]
        assert series["values"][-1] == 4 and series["values"][-4] == 1 and sum(series["values"]) == 5
        # only today: the old event drops out
        r = jbody(http.get("/api/v1/dashboards/panels/probe.events", params={"since": today.isoformat()}))
        assert len(r["labels"]) == 1 and [s["values"] for s in r["series"] if s["name"] == shown] == [[4]]
        alarms = jbody(http.get("/api/v1/dashboards/panels/fleet.alarms", params={"since": today.isoformat()}))
        assert any(s["name"] == "调试探针" and s["values"][0] >= 1 for s in alarms["series"])
        rate = jbody(http.get("/api/v1/dashboards/panels/fleet.reporting", params={"since": today.isoformat()}))
        probe_rate = next(s for s in rate["series"] if s["name"] == "调试探针")
        assert rate["unit"] == "%" and 0 < probe_rate["values"][0] <= 100
        faults = jbody(http.get("/api/v1/dashboards/panels/fleet.faults", params={"since": today.isoformat()}))
        assert shown in faults["labels"]  # the alarm opened an order
        # CSV export: a header row, one row per day, opens in Excel (BOM)
        c = http.get("/api/v1/dashboards/panels/probe.events",
                     params={"since": (today - timedelta(days=4)).isoformat(), "format": "csv"})
        assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
        assert "attachment" in c.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(c.text.lstrip("\ufeff"))))
        assert rows[0][0] == "date" and shown in rows[0] and len(rows) == 6
        assert rows[-1][rows[0].index(shown)] == "4"
        # bad ranges are refused clearly
        yesterday = (today - timedelta(days=1)).isoformat()
        bad = http.get("/api/v1/dashboards/panels/probe.events", params={"since": today.isoformat(),
                                                                        "until": yesterday})
        assert bad.status_code == 422 and "since" in bad.text
        assert http.get("/api/v1/dashboards/panels/probe.events",
                        params={"since": "2020-01-01", "until": "2026-01-01"}).status_code == 422
        assert http.get("/api/v1/dashboards/panels/nope").status_code == 404
        fleet = jbody(http.get("/api/v1/dashboards/fleet"))
        row = next(f for f in fleet if f["site"] == dev.ref.site and f["kind"] == "probe")
        assert row["devices"] >= 1 and row["online"] >= 1 and row["open_orders"] >= 1
        summ = jbody(http.get("/api/v1/dashboards/summary"))
        assert summ["devices"] >= 1 and summ["open_orders"] >= 1
        page = http.get("/dashboards")
        assert page.status_code == 200 and "运营看板" in page.text and "vendor/chartjs/chart.umd.min.js" in page.text
        assert 'data-panel="fleet.events"' in page.text and "导出 CSV" in page.text
        kind_page = http.get("/dashboards/probe")
        assert kind_page.status_code == 200 and 'data-panel="probe.events"' in kind_page.text
        assert http.get("/dashboards/nonsense").status_code == 422
        lic = http.get("/static/vendor/chartjs/LICENSE.md")
        assert lic.status_code == 200 and "MIT" in lic.text


def test_live_stream_pushes_work_order_news(live: Live, device: DeviceFactory) -> None:
    dev = device("p2")
    known(live.server, dev.ref)
    fault = f"stream_{uuid.uuid4().hex[:6]}"
    got: list[tuple[str, dict[str, object]]] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=live.ls.url, auth=("manager", "manager-secret-1"), timeout=30) as c, \
                c.stream("GET", "/api/v1/stream") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            event = ""
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    got.append((event, json.loads(line[6:])))
                    ready.set()
                    if event == "workorder" and got[-1][1].get("fault") == fault:
                        return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert ready.wait(10), "no first summary event"
    assert got[0][0] == "summary" and "open_orders" in got[0][1]
    ev = dev.event("probe.fault", severity="alarm", data={"fault": fault})
    wait_for(lambda: stored(live.server, ev.id) == 1, what="alarm")
    t.join(15)
    news = [d for e, d in got if e == "workorder" and d.get("fault") == fault]
    assert news and news[0]["action"] == "opened" and news[0]["device"] == dev.ref.device
