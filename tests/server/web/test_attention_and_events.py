"""The home page leads with what needs attention (open alarms and faults with the overdue ones first, offline
devices, today's alarms; each a link), and /events lists every event the user may see with filters and paging
done on the server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from linli.i18n import to_local
from linli.testing import TestBroker, wait_for
from server.app import create_app
from server.testing import DevicePool, DeviceSim, LiveServer, known, make_settings, running, stored


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, mqtt_broker: TestBroker, device_pool: DevicePool
          ) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("attention")
    settings = make_settings(tmp, f"sqlite:///{tmp / 'att.db'}", mqtt_broker,
                             workorders={"respond_min": 0.005})  # overdue (not dispatched) after 0.3 s
    with running(create_app(settings)) as ls:
        sims = {}
        for name in ("p1", "p2", "e1"):
            ref, creds = device_pool[name]
            sims[name] = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
            known(ls.server, ref)
        west, east, gone = sims["p1"], sims["e1"], sims["p2"]
        ids = [west.event("probe.input").id for _ in range(55)]
        alarm = west.event("probe.fault", severity="alarm", data={"fault": "smoke"})
        warn = west.event("probe.door_slow", severity="warning", data={"fault": "door_slow"})
        ids += [alarm.id, warn.id, east.event("probe.input").id]
        wait_for(lambda: stored(ls.server, *ids) == len(ids), what="the events")
        gone.abort()  # a power cut: the broker publishes its will, the device goes offline
        wait_for(lambda: known(ls.server, gone.ref).state == "offline", what="p2 offline")
        time.sleep(0.5)  # the orders are past their respond-by time
        yield {"ls": ls, "west": west, "east": east, "gone": gone, "alarm": alarm}
        for sim in (west, east):
            sim.close()


def _rows(html: str, table: str) -> list[str]:
    body = re.search(rf'<table class="grid" id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    return re.findall(r"<tr.*?</tr>", body.group(1), re.S) if body else []


def test_home_leads_with_what_needs_attention(world: dict[str, Any]) -> None:
    ls: LiveServer = world["ls"]
    with ls.client("manager") as http:
        html = http.get("/").text
    att = html.index('id="attention"')
    assert att < html.index('id="devices"')  # before the fleet table
    assert "今日需关注" in html and "最新事件" not in html and 'id="events"' not in html  # no raw event feed
    orders = re.search(r'<ul class="plain attention" id="open-orders">(.*?)</ul>', html, re.S).group(1)
    assert re.search(r'href="/workorders/\d+"', orders) and "响应超时" in orders  # overdue, marked
    assert orders.count("<li") == 1 and "sev-alarm" in orders  # the smoke alarm's order (a warning opens none)
    offline = re.search(r'id="offline-devices">(.*?)</ul>', html, re.S).group(1)
    assert f'href="/devices/{world["gone"].ref.key}"' in offline and world["west"].ref.device not in offline
    alarms = re.search(r'id="alarms">(.*?)</ul>', html, re.S).group(1)
    assert f'href="/devices/{world["west"].ref.key}"' in alarms and alarms.count("<li>") == 1
    assert 'href="/events?severity=alarm"' in html and 'href="/events"' in html
    with ls.client("manager") as http:
        en = http.get("/", params={"lang": "en"}).text
    assert "Needs attention today" in en and "Offline devices" in en and "Open alarms and faults" in en


def test_events_page_filters_and_pages_on_the_server(world: dict[str, Any]) -> None:
    ls: LiveServer = world["ls"]
    west, east = world["west"], world["east"]
    with ls.client("admin") as http:
        first = http.get("/events")
        assert first.status_code == 200
        rows = _rows(first.text, "events")
        assert len(rows) == 50  # one page
        older = re.search(r'<a href="(/events\?[^"]+)" id="older">', first.text).group(1).replace("&amp;", "&")
        second = http.get(older).text
        assert len(_rows(second, "events")) == 8 and 'id="older"' not in second and 'id="newest"' in second
        seen = re.findall(r'data-event="(\w+)"', first.text + second)
        assert len(seen) == len(set(seen)) == 58  # every event once, none twice
        # filters: severity, type (prefix), site, kind, device
        alarms = http.get("/events", params={"severity": "alarm"}).text
        assert re.findall(r'data-event="(\w+)"', alarms) == [world["alarm"].id]
        assert len(_rows(http.get("/events", params={"type": "probe.door*"}).text, "events")) == 1
        assert len(_rows(http.get("/events", params={"site": "east"}).text, "events")) == 1
        assert len(_rows(http.get("/events", params={"device": east.ref.device, "kind": "probe"}).text,
                         "events")) == 1
        assert len(_rows(http.get("/events", params={"kind": "gate"}).text, "events")) == 0
        # time range, as people read times (Asia/Shanghai, datetime-local fields)
        later = (to_local(world["alarm"].ts) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        assert len(_rows(http.get("/events", params={"since": later}).text, "events")) == 0
        assert len(_rows(http.get("/events", params={"until": later, "site": "east"}).text, "events")) == 1
        bad = http.get("/events", params={"severity": "loud"})
        assert bad.status_code == 200 and 'id="filter-error"' in bad.text and "筛选条件无效" in bad.text
        assert 'id="filter-error"' in http.get("/events", params={"since": "yesterday"}).text
    with ls.client("east") as http:  # a manager of the east site only: the west's events are not there
        html = http.get("/events").text
        assert re.findall(r'data-event="(\w+)"', html) and west.ref.device not in html
        assert len(_rows(html, "events")) == 1
        assert len(_rows(http.get("/events", params={"site": "west"}).text, "events")) == 0


def test_events_link_in_the_navigation(world: dict[str, Any], tmp_path: Path) -> None:
    with world["ls"].client("maint") as http:
        html = http.get("/events", params={"lang": "en"}).text
    assert '<a href="/events" aria-current="page">Events</a>' in html and "Filter" in html


def test_kind_dashboards_count_their_kind_only(world: dict[str, Any]) -> None:
    def card(html: str, key: str) -> int:
        return int(re.search(rf'data-key="{key}">(\d+)<', html).group(1))  # type: ignore[union-attr]

    from sqlalchemy import func, select

    from server.db.models import Device

    # the shared broker may hand this server other tests' retained devices too: count what the database holds
    with world["ls"].server.db.session() as s:
        by_kind = dict(s.execute(select(Device.kind, func.count()).group_by(Device.kind)).all())
    total, n_probe, n_gate = sum(by_kind.values()), by_kind.get("probe", 0), by_kind.get("gate", 0)
    assert n_probe >= 3
    with world["ls"].client("admin") as http:
        fleet, probe, gate = (http.get(p).text for p in ("/dashboards", "/dashboards/probe", "/dashboards/gate"))
        assert card(fleet, "devices") == total and card(probe, "devices") == n_probe
        assert card(gate, "devices") == n_gate
        assert card(probe, "open_orders") == card(fleet, "open_orders") >= 1 and card(gate, "open_orders") == 0
        assert card(gate, "overdue_orders") == 0 and card(probe, "overdue_orders") >= 1
        assert 'id="summary" data-kind="gate"' in gate  # the live stream refreshes these with the kind's figures
        assert http.get("/api/v1/dashboards/summary", params={"kind": "gate"}).json()["devices"] == n_gate
        assert http.get("/api/v1/dashboards/summary").json()["devices"] == total
