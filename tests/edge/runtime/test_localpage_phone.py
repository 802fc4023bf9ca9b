"""The agent's local pages in real Chromium at phone size (390×844): no sideways scrolling, touch targets of at
least 44 px (rules in tests/phone_layout.py). Screenshots at desk and phone size in zh and en:
artifacts/screenshots/agent-<kind>-<page>-<desk|phone>-<lang>.png."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.runtime.harness import DEFAULT_PAGE_PASSWORD, AgentFactory
from linli.contract.probe import InputChanged
from linli.testing import CHROMIUM, chromium
from tests.phone_layout import DESK, PHONE, check_phone, shoot

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
PAGES = {"status": "/", "io": "/io", "events": "/events", "logs": "/logs", "config": "/config"}


def check_agent_pages(url: str, pages: dict[str, str], prefix: str, browser: Any = None) -> list[str]:
    """Open ``pages`` of an agent's local page at phone and desk size in both languages; the phone findings.
    ``browser``: an already running Playwright browser to use (a test that drives one already cannot start a
    second)."""
    if browser is None:
        with chromium() as ctx:
            return check_agent_pages(url, pages, prefix, ctx.browser)
    findings: list[str] = []
    token = base64.b64encode(f"maint:{DEFAULT_PAGE_PASSWORD}".encode()).decode()
    auth = {"extra_http_headers": {"Authorization": f"Basic {token}"},
            "http_credentials": {"username": "maint", "password": DEFAULT_PAGE_PASSWORD}}
    phone_ctx = browser.new_context(viewport=PHONE, has_touch=True, locale="zh-CN", **auth)
    desk_ctx = browser.new_context(viewport=DESK, locale="zh-CN", **auth)
    blocked: list[str] = []  # the pages' Content-Security-Policy holds here too (as in linli.testing.chromium)
    for c in (phone_ctx, desk_ctx):
        c.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        phone, desk = phone_ctx.new_page(), desk_ctx.new_page()
        for name, path in pages.items():
            for lang in ("zh", "en"):
                resp = phone.goto(f"{url}{path}?lang={lang}")
                assert resp is not None and resp.status == 200, path
                findings += [str(f) for f in check_phone(phone, f"{path} [{lang}]")]
                shoot(phone, f"{prefix}-{name}-phone-{lang}")
                desk.goto(f"{url}{path}?lang={lang}")
                shoot(desk, f"{prefix}-{name}-desk-{lang}")
    finally:
        phone_ctx.close()
        desk_ctx.close()
    assert not blocked, "a page broke its Content-Security-Policy:\n" + "\n".join(blocked[:5])
    return findings


def test_every_local_page_fits_a_phone(agents: AgentFactory) -> None:
    agent: Any = agents.make(telemetry_interval_s=0.5)
    assert agent.link.wait_connected(10)
    for i in range(3):
        agent.emit(InputChanged(input="button", active=bool(i % 2), count=i))
    findings = check_agent_pages(agent.page.url, PAGES, "agent-probe")
    assert not findings, f"{len(findings)} phone-layout problems:\n" + "\n".join(findings[:60])


def test_status_page_refreshes_itself(agents: AgentFactory) -> None:
    """The status page (and with it a kind's live picture) follows the device without a reload: a static script
    fetches the page again every few seconds and swaps its main part in place (the page has no inline scripts)."""
    agent: Any = agents.make(telemetry_interval_s=0.5)
    assert agent.link.wait_connected(10)
    with chromium(http_credentials=("maint", DEFAULT_PAGE_PASSWORD)) as ctx:
        page = ctx.new_page()
        page.goto(agent.page.url + "/")
        assert page.locator("#probe-output .pill.off").count() == 1
        assert page.locator("main").get_attribute("data-refresh") == "3"
        agent.hal.relays["output"].on()
        try:
            page.locator("#probe-output .pill.on").wait_for(timeout=10000)  # no reload, no click
        finally:
            agent.hal.relays["output"].off()
        assert int(page.locator("main").get_attribute("data-refreshed") or 0) >= 1
        page.goto(agent.page.url + "/logs")
        assert page.locator("main").get_attribute("data-refresh") == "0"  # only where it helps


def test_logs_page_filters_by_level(agents: AgentFactory) -> None:
    agent: Any = agents.make()
    log = logging.getLogger("edge.test.levels")
    log.info("routine line %s", "i-1")
    log.warning("door slow %s", "w-1")
    log.error("camera lost %s", "e-1")
    with chromium(http_credentials=("maint", DEFAULT_PAGE_PASSWORD)) as ctx:
        page = ctx.new_page()
        page.goto(agent.page.url + "/logs")
        text = page.inner_text("ul.logs")
        assert "i-1" in text and "w-1" in text and "e-1" in text
        page.select_option("#log-filter select[name=level]", "WARNING")
        page.click("#log-filter button")
        page.wait_for_url("**/logs?level=WARNING*")
        text = page.inner_text("ul.logs")
        assert "i-1" not in text and "w-1" in text and "e-1" in text
        assert page.locator("#log-filter select[name=level]").input_value() == "WARNING"  # the choice stays
        shoot(page, "agent-logs-warnings")
    auth = ("maint", DEFAULT_PAGE_PASSWORD)
    got = httpx.get(agent.page.url + "/api/logs", params={"level": "error"}, auth=auth).json()
    assert [x["message"] for x in got if "e-1" in x["message"] or "w-1" in x["message"]] == ["camera lost e-1"]
    assert httpx.get(agent.page.url + "/api/logs", params={"level": "loud"}, auth=auth).status_code == 422
    assert "i-1" in httpx.get(agent.page.url + "/logs", params={"level": "loud"}, auth=auth).text  # ignored
