"""The local maintenance page over real HTTP (uvicorn on a free port)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from edge.apps.probe.sim import ProbeSim
from edge.runtime.harness import DEFAULT_PAGE_PASSWORD, AgentFactory
from edge.runtime.localpage.auth import hash_password
from linli.contract.probe import InputChanged
from linli.contract.runtime import WatchdogTripped
from linli.testing import wait_for
from tests.edge.runtime.test_metrics_names import lint_metrics

AUTH = ("maint", DEFAULT_PAGE_PASSWORD)


@pytest.fixture
def agent(agents: AgentFactory) -> Any:
    a = agents.make(telemetry_interval_s=0.2)
    assert a.link.wait_connected(10)
    return a


PATHS = ["/", "/io", "/events", "/logs", "/config", "/api/status", "/api/io", "/api/events", "/api/logs",
         "/api/config", "/api/commands", "/metrics"]


def test_every_page_needs_the_password(agent: Any) -> None:
    with httpx.Client(base_url=agent.page.url) as c:
        for path in PATHS:
            r = c.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic"), path
            # wrong pairs: refused (401; 429 once this address has been locked out by them)
            assert c.get(path, auth=("maint", "wrong")).status_code in (401, 429), path
            assert c.get(path, auth=("admin", DEFAULT_PAGE_PASSWORD)).status_code in (401, 429), path
            assert c.get(path, auth=AUTH).status_code == 200, path  # verified before the lock-out: remembered


def test_posts_need_the_password_too(agent: Any) -> None:
    sim = ProbeSim(agent.cfg.hal, agent.app.cfg)
    assert httpx.post(agent.page.url + "/actions/set", data={"on": "true"}).status_code == 401
    assert httpx.post(agent.page.url + "/api/commands/set", json={"on": True}).status_code == 401
    assert not sim.relay_on()


def test_static_css_is_served_locally_without_password(agent: Any) -> None:
    r = httpx.get(agent.page.url + "/static/style.css")
    assert r.status_code == 200 and "--accent" in r.text
    page = httpx.get(agent.page.url + "/", auth=AUTH).text
    assert not re.search(r"""(src|href)=["']https?://""", page)  # no CDN


def test_status_page_chinese_first_english_on_request(agent: Any) -> None:
    r = httpx.get(agent.page.url + "/", auth=AUTH)
    assert "服务器连接" in r.text and "已连接" in r.text and agent.ref.device in r.text
    assert "调试探头" in r.text and 'lang="zh-CN"' in r.text
    r = httpx.get(agent.page.url + "/?lang=en", auth=AUTH)
    assert "Server link" in r.text and "connected" in r.text and 'lang="en"' in r.text
    assert r.cookies.get("lang") == "en"
    st = httpx.get(agent.page.url + "/api/status", auth=AUTH).json()
    assert st["device"] == agent.ref.device and st["mqtt"]["connected"] is True
    assert st["software"] and "outbox_depth" in st["figures"] and st["state"] == "idle"


def test_io_states_follow_the_hardware(agent: Any) -> None:
    sim = ProbeSim(agent.cfg.hal, agent.app.cfg)
    io = httpx.get(agent.page.url + "/api/io", auth=AUTH).json()
    assert io["relays"]["output"]["on"] is False and io["inputs"]["button"]["active"] is False
    sim.press()
    agent.hal.relays["output"].on()
    io = httpx.get(agent.page.url + "/api/io", auth=AUTH).json()
    assert io["relays"]["output"]["on"] is True and io["inputs"]["button"]["active"] is True
    html = httpx.get(agent.page.url + "/io", auth=AUTH).text
    row = re.search(r'<tr id="relay-output">.*?</tr>', html, re.S)
    assert row and "吸合" in row.group(0)
    row = re.search(r'<tr id="input-button">.*?</tr>', html, re.S)
    assert row and "有效" in row.group(0)
    sim.release()


def test_events_page_shows_recent_events_in_shanghai_time(agent: Any) -> None:
    ev = agent.emit(WatchdogTripped(loop="lift 3", stale_s=1.0), blobs=[b"\xff\xd8\xff\xe0fake-jpeg"])
    html = httpx.get(agent.page.url + "/events", auth=AUTH).text
    assert "watchdog.tripped" in html and "lift 3" in html and "报警" in html
    from linli.i18n import fmt_time

    assert fmt_time(ev.ts) in html  # +08:00 wall-clock time
    api = httpx.get(agent.page.url + "/api/events", auth=AUTH).json()
    assert api[0]["id"] == ev.id and api[0]["severity"] == "alarm"
    img = httpx.get(agent.page.url + f"/blobs/{ev.blobs[0]}", auth=AUTH)
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert httpx.get(agent.page.url + "/blobs/" + "0" * 64, auth=AUTH).status_code == 404


def test_logs_and_config_views(agent: Any) -> None:
    logs = httpx.get(agent.page.url + "/api/logs", auth=AUTH).json()
    assert any("started" in line["message"] for line in logs)
    cfg = httpx.get(agent.page.url + "/api/config", auth=AUTH).json()
    assert cfg["device"] == agent.ref.device and cfg["app"]["pulse_max_s"] == 5.0
    html = httpx.get(agent.page.url + "/config", auth=AUTH).text
    assert "password_file" in html and DEFAULT_PAGE_PASSWORD not in html


def test_metrics_have_the_outbox_depth_and_counters(agent: Any) -> None:
    labels = f'device="{agent.ref.device}",kind="probe",site="t-site"'

    def drained() -> str | None:  # telemetry every 0.2 s: catch a moment when nothing is queued
        t = httpx.get(agent.page.url + "/metrics", auth=AUTH).text
        return t if f"linli_outbox_depth{{{labels}}} 0.0" in t else None

    text = wait_for(drained, 10, what="outbox drained in /metrics")
    assert f"linli_mqtt_connected{{{labels}}} 1.0" in text
    assert f"linli_mqtt_connects_total{{{labels}}} 1.0" in text
    assert "linli_publish_acks_total" in text and "linli_outbox_dropped_total" in text
    assert re.search(r'linli_presses\{.*\} 0\.0', text)
    assert lint_metrics(text) == []
    agent.link.client.disconnect()  # the depth grows while the link is down
    wait_for(lambda: not agent.link.connected, 5, what="disconnected")
    for _ in range(3):
        agent.emit(InputChanged(input="queued", active=True, count=0))
    text = httpx.get(agent.page.url + "/metrics", auth=AUTH).text
    depth = float(re.search(rf"linli_outbox_depth\{{{labels}\}} (\S+)", text).group(1))  # type: ignore[union-attr]
    assert depth >= 3


def test_test_action_goes_through_the_command_registry_and_is_audited(agent: Any) -> None:
    sim = ProbeSim(agent.cfg.hal, agent.app.cfg)
    with httpx.Client(base_url=agent.page.url, auth=AUTH) as c:
        assert "/actions/pulse" in c.get("/").text  # the app's fragment offers it
        r = c.post("/actions/set", data={"on": "true", "lang": "zh"})
        assert r.status_code == 303 and r.headers["location"].startswith("/?cmd=")
        assert sim.relay_on()
        page = c.get(r.headers["location"]).text
        assert "操作“set”已执行" in page
        r = c.post("/api/commands/set", json={"on": False})
        assert r.status_code == 200 and r.json()["ok"] is True and not sim.relay_on()
        r = c.post("/api/commands/pulse", json={"seconds": 99})
        assert r.json()["ok"] is False and "less than or equal to 5" in r.json()["error"]
    evs = [e for e in agent.recent_events if e.type.startswith("cmd.")]
    assert [e.data["by"] for e in evs] == ["local:maint"] * 3
    assert [e.data["origin"] for e in evs] == ["local"] * 3
    assert "by=local:maint origin=local ok" in (agent.data_dir / "audit.log").read_text(encoding="utf-8")


def test_cross_site_form_post_is_refused(agent: Any) -> None:
    sim = ProbeSim(agent.cfg.hal, agent.app.cfg)
    r = httpx.post(agent.page.url + "/actions/set", data={"on": "true"}, auth=AUTH,
                   headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and not sim.relay_on()
    r = httpx.post(agent.page.url + "/actions/set", data={"on": "true"}, auth=AUTH,
                   headers={"Origin": agent.page.url})
    assert r.status_code == 303 and sim.relay_on()


def test_argon2_hash_from_config(agents: AgentFactory) -> None:
    a = agents.make(local_page={"host": "127.0.0.1", "port": 0, "username": "maint",
                                "password_hash": hash_password("pw-from-hash"), "password_file": None})
    assert httpx.get(a.page.url + "/api/status", auth=("maint", "pw-from-hash")).status_code == 200
    assert httpx.get(a.page.url + "/api/status", auth=("maint", "pw-from-hash ")).status_code == 401
