"""The server-rendered pages: Chinese by default, English with ?lang=en (remembered), auth, local assets only."""

from __future__ import annotations

import re
import uuid

from linli.testing import wait_for
from server.testing import DeviceFactory, Live, known, stored

JPEG = b"\xff\xd8\xff\xe0page-test\xff\xd9"


def test_overview_page_chinese_by_default(live: Live, device: DeviceFactory) -> None:
    dev = device("p1")
    known(live.server, dev.ref)
    sha = dev.blob(JPEG + uuid.uuid4().bytes)
    ev = dev.event("probe.door_held", severity="alarm", blobs=[sha])
    wait_for(lambda: stored(live.server, ev.id) == 1, what="event")
    with live.ls.client("manager") as http:
        r = http.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<html lang="zh-Hans">' in html
    for text in ("小区设备中心", "设备", "今日需关注", "最后通信", "软件版本", "告警", "在线", "调试探针"):
        assert text in html, text
    assert dev.ref.device in html and "probe door held" in html  # a type outside the contract: its words
    assert f'href="/api/v1/blobs/{sha}"' in html  # snapshot link
    assert re.search(r"\d+ (秒|分钟)前", html)       # last seen, relative, in Chinese
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", html)  # event time (Asia/Shanghai)
    assert "sim 1.0" in html                          # software version from the birth status
    # everything the page loads comes from this server
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(not re.match(r"(https?:)?//", u) for u in refs), refs
    with live.ls.client("manager") as http:
        css = http.get("/static/linli.css")
        js = http.get("/static/linli.js")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"] and ".badge" in css.text
    assert js.status_code == 200


def test_english_with_lang_param_and_cookie(live: Live, device: DeviceFactory) -> None:
    known(live.server, device("p1").ref)
    with live.ls.client("admin") as http:
        r = http.get("/", params={"lang": "en"})
        assert r.status_code == 200 and '<html lang="en">' in r.text
        for text in ("Compound devices", "Needs attention today", "Last seen", "Software", "online"):
            assert text in r.text, text
        assert "今日需关注" not in r.text
        assert r.cookies.get("linli_lang") == "en"
        again = http.get("/")  # the cookie remembers
        assert '<html lang="en">' in again.text
        back = http.get("/", params={"lang": "zh"})
        assert '<html lang="zh-Hans">' in back.text and "今日需关注" in back.text


def test_device_page(live: Live, device: DeviceFactory) -> None:
    dev = device("p3")
    known(live.server, dev.ref)
    dev.telemetry(gauges={"relay": True})
    ev = dev.event("probe.input")
    wait_for(lambda: stored(live.server, ev.id) == 1, what="event")
    with live.ls.client("maint") as http:
        wait_for(lambda: "CPU" in http.get(f"/devices/{dev.ref.key}").text, what="telemetry on the page")
        r = http.get(f"/devices/{dev.ref.key}")
        assert r.status_code == 200
        assert "设备详情" in r.text or dev.ref.device in r.text
        assert "最近遥测" in r.text and "输入变化" in r.text and "返回总览" in r.text  # the contract's name
        en = http.get(f"/devices/{dev.ref.key}", params={"lang": "en"})
        assert "Latest telemetry" in en.text and "Recent commands" in en.text
        assert http.get("/devices/west/probe/nobody").status_code == 404


def test_pages_need_auth(live: Live) -> None:
    with live.ls.client(None) as http:
        for path in ("/", "/devices/west/probe/srv-p1", "/?lang=en"):
            r = http.get(path)
            assert r.status_code == 401 and "www-authenticate" in r.headers, path
