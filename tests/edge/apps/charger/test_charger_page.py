"""The pile's local maintenance page in Chromium: live ports, link health, bills, test start/stop (audited)."""

from __future__ import annotations

from typing import Any

import pytest

from edge.runtime.harness import DEFAULT_PAGE_PASSWORD
from linli.testing import chromium, screenshot, wait_for
from tests.edge.runtime.test_localpage_phone import PAGES, check_agent_pages


@pytest.mark.browser
def test_local_page_shows_ports_and_starts_and_stops_a_port(make_bench: Any) -> None:
    b = make_bench()
    b.pile.plug(1, "ebike_48v")
    b.pile.plug(3, "phone")
    b.settle()
    assert b.command("start", port=1, order_id="page-1", prepaid_fen=500).ok
    b.advance(1200, step=300)
    with chromium(http_credentials=("maint", DEFAULT_PAGE_PASSWORD)) as ctx:
        page = ctx.new_page()
        page.goto(b.agent.page.url + "/")
        assert page.locator("#port-1").get_attribute("data-state") == "charging"
        assert "充电中" in page.locator("#port-1").inner_text()
        assert "正常" in page.locator("#charger-mcu").inner_text()
        assert "kWh" in page.locator("#charger-meter").inner_text()
        assert page.locator("#port-3").get_attribute("data-state") == "plugged"
        screenshot(page, "charger-local-charging")
        page.locator("#port-3 button").click()  # test start: a free session, through the audited command path
        wait_for(lambda: b.pile.relay_on(3), 5, what="port 3 on from the page")
        b.settle()
        page.goto(b.agent.page.url + "/")
        assert page.locator("#port-3").get_attribute("data-state") == "float"  # a phone: 5 W, below full_w
        page.locator("#port-3 button").click()  # stop
        wait_for(lambda: not b.pile.relay_on(3), 5, what="port 3 off from the page")
        b.settle()
        page.goto(b.agent.page.url + "/")
        assert "本地停止" in page.locator("#port-3").inner_text()
        assert "¥0.00" in page.locator("#charger-bills").inner_text()
        screenshot(page, "charger-local-bill")
        b.pile.set_smoke(True)
        b.world.meter.go_silent()
        b.advance(25, step=25)
        page.goto(b.agent.page.url + "/")
        assert page.locator("#charger-smoke").is_visible() and "失联" in page.locator("#charger-meter").inner_text()
        assert page.locator("#charger-ports form[action='/actions/start']").count() == 0  # no test start now
        screenshot(page, "charger-local-smoke-meter-lost")
        page.goto(b.agent.page.url + "/?lang=en")
        assert "SMOKE ALARM" in page.content()
        screenshot(page, "charger-local-en")
    findings = check_agent_pages(b.agent.page.url, PAGES, "agent-charger")  # with the smoke alarm shown
    assert not findings, "\n".join(findings)
    audit = (b.agent.data_dir / "audit.log").read_text(encoding="utf-8")
    assert "cmd start" in audit and "origin=local" in audit
