"""No machine text in front of people (issue 15, item 2): every GET page of the server (taken from the app's route
table, so a new page is covered without anyone remembering) and every CSV export, in Chinese and in English, is
read as people see it (tags stripped; scripts, styles and <details> kept for maintainers left out) and must show
no raw identifier: event types (``gate.passage``), snake_case keys (``mcu_lost``, ``p3_w``), ``True/False/None``,
Python error texts, and on Chinese pages no English state or severity words.

The world has a device of every kind, an event of every declared type, telemetry with gauges (``p3_w``,
``mcu_ok True``, ``p1_wh None``), work orders (one for a fault key, one whose fault is a raw Python error), alerts
and the audit entries all of this wrote."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any, ClassVar

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import update

from linli import contract
from linli.contract import Kind, new_id, utcnow
from linli.testing import TestBroker
from server.alerts.service import raise_alert
from server.app import create_app
from server.db.models import Command, Device, Event, Telemetry
from server.security import public_reason
from server.testing import LiveServer, make_settings, running, user_entries

SITE = "west"
#: Raw identifiers: dotted names (event types, audit actions), snake_case keys, Python literals and errors.
DOTTED = re.compile(r"(?<![\w./@:-])[a-z][a-z0-9]*(?:\.[a-z_][a-z0-9_]*)+\b(?![./-]\w)")
SNAKE = re.compile(r"(?<![\w./@:-])[a-z][a-z0-9]*_[a-z0-9_]+\b(?![./-]\w)")
LITERAL = re.compile(r"\b(?:None|True|False)\b")
PY_ERROR = re.compile(r"\[Errno \d+\]|\b[A-Z][A-Za-z]*(?:Error|Exception)\b|Traceback")
#: A service's name as the server stores it (``resident:pay``, ``server:billing``), not a time or a URL.
ACTOR = re.compile(r"(?<![\w/])[a-z]+:[a-z][a-z0-9-]*\b")
#: English words that are machine states/levels when they show on a Chinese page.
ENGLISH_ON_ZH = re.compile(r"\b(?:online|offline|idle|charging|blocking|alarm|warning|info|received|dispatched|"
                           r"handled|verified|closed|entry|exit|resident|visitor|blacklist|running|stopping|"
                           r"failed|refused|pending|active|acknowledged|cleared|Device|Event|Work order)\b")
#: Pages that are not for people (machine endpoints, binary files, the API's own documentation).
NOT_PAGES = ("/api/", "/docs", "/redoc", "/openapi.json", "/metrics", "/healthz", "/releases/", "/static")


class _Text(HTMLParser):
    """Visible text: no tags, attributes, scripts, styles, or <details> bodies (the raw text kept for
    maintainers); a <details>' <summary> is visible."""

    SKIP: ClassVar[frozenset[str]] = frozenset({"script", "style", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.details = 0
        self.summary = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag == "details":
            self.details += 1
        elif tag == "summary":
            self.summary += 1
        if tag in ("br", "p", "div", "td", "th", "li", "tr", "option", "dt", "dd", "h1", "h2", "h3", "span"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "details":
            self.details = max(0, self.details - 1)
        elif tag == "summary":
            self.summary = max(0, self.summary - 1)
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if self.skip or (self.details and not self.summary):
            return
        self.parts.append(data)


def visible_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    return re.sub(r"\s+", " ", "".join(p.parts))


def machine_text(text: str, lang: str) -> list[str]:
    """The raw identifiers found in a text people read."""
    found = [m.group(0) for rx in (DOTTED, SNAKE, LITERAL, PY_ERROR, ACTOR) for m in rx.finditer(text)]
    if lang == "zh":
        found += [m.group(0) for m in ENGLISH_ON_ZH.finditer(text)]
    return found


def test_detector_finds_machine_text_and_leaves_people_text_alone() -> None:
    bad = ("事件 gate.passage", "故障 mcu_lost", "p3_w 120", "mcu_ok True", "p1_wh None",
           "[Errno 2] No such file or directory", "ValueError: bad", "状态 idle", "发送者 resident:pay",
           "server:gate-sync")
    for text in bad:
        assert machine_text(visible_text(f"<p>{text}</p>"), "zh"), text
    good = ("3 号端口功率 120 W", "控制板正常：是", "下载 linli-0.3.0.tar.gz", "admin@example.org",
            "沪A12345 · 2026-12-05 09:00:00", "http://192.168.1.10:8601", "时间 12:30")
    for text in good:
        assert not machine_text(visible_text(f"<p>{text}</p>"), "zh"), text
    assert not machine_text(visible_text('<a href="/gate.passage/x_y" title="p3_w">车辆通行</a>'), "zh")
    assert not machine_text(visible_text("<details><summary>原始错误</summary><code>[Errno 2] x_y</code>"
                                         "</details>"), "zh")
    assert not machine_text(visible_text("<script>var a_b = None;</script>"), "zh")


# ------------------------------------------------------------------------------------------------- the world
@dataclass
class World:
    live: LiveServer
    ids: dict[str, Any] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.live.url, auth=("admin", "admin-secret-1"), timeout=30)


SAMPLE: dict[str, Any] = {"fault": "mcu_lost", "port": 3, "lane": "in1", "seconds": 12.5,
                          "detail": "[Errno 2] No such file or directory: '/dev/ttyUSB0'"}


@pytest.fixture(scope="module")
def world(mqtt_broker: TestBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    users = list(user_entries())
    data = tmp_path_factory.mktemp("words")
    settings = make_settings(data, f"sqlite:///{data / 'linli.db'}", mqtt_broker, auth={"users": users},
                             commands={"publish_wait_s": 0.1})
    app = create_app(settings)
    with running(app) as live:
        w = World(live)
        srv = live.server
        now = utcnow()
        with srv.db.session() as s:
            devs: dict[str, Device] = {}
            for k in Kind:
                dev = Device(site=SITE, kind=k.value, device=f"{k.value.replace('_', '-')}-1", state="online",
                             state_since=now, first_seen=now, last_seen=now)
                s.add(dev)
                s.flush()
                devs[k.value] = dev
            for i, (type_, model) in enumerate(sorted(contract.all_event_models().items())):
                kind = next((k.value for k in Kind if type_ in contract.KINDS[k].event_models), "probe")
                fields = model.model_fields
                ev_data = {k: v for k, v in SAMPLE.items() if k in fields}
                s.add(Event(id=new_id(), device_id=devs[kind].id, type=type_, severity=model.EVENT.severity,
                            ts=now - timedelta(seconds=i), received_at=now, data=ev_data, blobs=[]))
            s.add(Telemetry(device_id=devs["charger"].id, ts=now, received_at=now,
                            health={"cpu_pct": 12.5, "uptime_s": 3600},
                            gauges={"p3_w": 120, "mcu_ok": True, "p1_wh": None, "p3_state": "charging"}))
            s.add(Telemetry(device_id=devs["lift_guard"].id, ts=now, received_at=now, health={"fps": 9.5},
                            gauges={"state": "idle"}))
            for kind, type_ in (("gate", "gate.tailgating"), ("charger", "charger.refused")):
                raise_alert(s, devs[kind].id, SITE, "guard" if kind == "gate" else "manager", type_, "warning",
                            now, None, {"lane": "in1", "plate": "沪A12345", "seconds": 3.0})
        with w.client() as root:
            for fault in ("mcu_lost", "[Errno 2] No such file or directory: '/dev/ttyUSB0'"):
                r = root.post("/api/v1/workorders", json={"site": SITE, "kind": "charger", "device": "charger-1",
                                                          "fault": fault[:96], "severity": "alarm"})
                assert r.status_code == 201, r.text
                w.ids.setdefault("workorder", r.json()["id"])
            oid = w.ids["workorder"]
            assert root.post(f"/api/v1/workorders/{oid}/steps/note", json={"note": "看过了"}).status_code == 200
            r = root.post(f"/api/v1/devices/{SITE}/probe/probe-1/commands", json={"name": "ping"})
            assert r.status_code == 202, r.text
            r = root.post(f"/api/v1/devices/{SITE}/charger/charger-1/commands",
                          json={"name": "stop", "args": {"port": 1}})
            assert r.status_code == 202, r.text
            with w.live.server.db.session() as s:  # as the residents' pay flow sends it
                s.execute(update(Command).where(Command.id == r.json()["id"]).values(by="resident:pay"))
        yield w


def _get_pages(w: World) -> list[str]:
    """Every GET page of the app, path parameters filled with objects of the world."""
    fill = {"site": SITE, "kind": "charger", "device": "charger-1", "order_id": str(w.ids["workorder"]),
            "panel_id": None, "port": "3", "name": "admin"}
    out = []
    for r in iter_route_contexts(w.live.app.routes):
        path = getattr(r, "path", "")
        if "GET" not in (getattr(r, "methods", None) or ()) or path.startswith(NOT_PAGES):
            continue
        if public_reason("GET", path) and path != "/login":
            continue  # residents' phone pages and the provider's endpoints: their own tests
        names = re.findall(r"{(\w+)(?::[^}]*)?}", path)
        if any(fill.get(n) is None for n in names):
            continue
        url = path
        for n in names:
            url = re.sub(r"{" + n + r"(?::[^}]*)?}", fill[n], url)
        out.append(url)
    return out


def test_every_page_and_csv_speaks_to_people_in_both_languages(world: World) -> None:
    w = world
    pages = _get_pages(w)
    assert len(pages) > 10 and "/workorders" in pages and "/" in pages
    pages += [f"/devices/{SITE}/{k.value}/{k.value.replace('_', '-')}-1" for k in Kind]
    pages += [f"/workorders/{w.ids['workorder'] + 1}", "/alerts"]
    failures: list[str] = []
    with w.client() as c:
        csvs = [f"/api/v1/dashboards/panels/{p['id']}" for p in c.get("/api/v1/dashboards").json()]
        for lang in ("zh", "en"):
            for url in sorted(set(pages)):
                r = c.get(url, params={"lang": lang})
                if r.status_code == 404 or "text/html" not in r.headers.get("content-type", ""):
                    continue
                assert r.status_code < 500, f"{url}: {r.status_code}"
                found = machine_text(visible_text(r.text), lang)
                if found:
                    failures.append(f"{lang} {url}: {sorted(set(found))[:12]}")
            for url in csvs:
                r = c.get(url, params={"lang": lang, "format": "csv"})
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), url
                found = [m.group(0) for rx in (DOTTED, SNAKE, LITERAL, PY_ERROR) for m in rx.finditer(r.text)]
                if found:
                    failures.append(f"{lang} CSV {url}: {sorted(set(found))[:12]}")
    assert not failures, "machine text shown to people:\n" + "\n".join(failures)


def test_gauges_and_errors_read_as_sentences() -> None:
    from server.web.humanize import humanizer

    zh, en = humanizer("zh"), humanizer("en")
    assert zh.gauge("charger", "p3_w", 120) == "3 号端口功率 120 W"
    assert zh.gauge("charger", "mcu_ok", True) == "控制板正常：是"
    assert zh.gauge("charger", "p1_wh", None) == "1 号端口本次电量：—"
    assert en.gauge("charger", "p3_w", 120) == "Port 3 power 120 W"
    assert zh.event("gate.passage") == "车辆通行" and en.event("cmd.executed") == "Command executed"
    assert zh.fault("charger", "mcu_lost") == "控制板无响应"
    assert zh.state("charger", "idle") == "空闲" and en.state("lift_guard", "blocking") != "blocking"
    assert "Errno" not in zh.error("[Errno 2] No such file or directory: '/dev/ttyUSB0'")
