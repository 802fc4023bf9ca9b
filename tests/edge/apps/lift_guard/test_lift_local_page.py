"""The lift guard's part of the local maintenance page in real headless Chromium: state, live picture with region
and boxes, what the default model cannot see, last blocks with snapshots, and the test buttons that refuse while
the car may move. Screenshots: artifacts/screenshots/lift_guard-local-*.png."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edge.runtime.harness import DEFAULT_PAGE_PASSWORD
from linli.testing import CHROMIUM, chromium, screenshot, wait_for
from tests.edge.apps.lift_guard.conftest import LiftFactory
from tests.edge.runtime.test_localpage_phone import PAGES, check_agent_pages

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")]


def test_local_page_states_and_actions_in_chromium(lifts: LiftFactory, clip_video: Callable[..., Path]) -> None:
    region = {"polygon": [[0.0, 0.45], [0.3, 0.45], [0.3, 0.08], [0.7, 0.08], [0.7, 0.45], [1.0, 0.45], [1.0, 1.0],
                          [0.0, 1.0]]}
    lift = lifts.make(clip_video("bike_stays", size=(640, 480)), region=region)
    a = lift.agent
    url = a.page.url
    wait_for(lift.sim.relay_on, 15, what="block")
    wait_for(lambda: a.app.loop.live_jpeg is not None and a.app.loop.last.detections, 5, what="live picture")
    with chromium(http_credentials=("maint", DEFAULT_PAGE_PASSWORD)) as ctx:
        page = ctx.new_page()
        page.goto(url + "/?lang=zh")
        assert page.locator("#lg-state").get_attribute("data-state") == "blocking"
        assert "阻止中" in page.locator("#lg-state").inner_text()
        assert page.locator("#lg-live").evaluate("i => i.naturalWidth") == 640
        assert "看不到单独携带的电池" in page.locator("#lg-limits").inner_text()
        assert page.locator("#lg-recent tr").count() == 2 and "进行中" in page.locator("#lg-recent").inner_text()
        screenshot(page, "lift_guard-local-blocking")
        page.fill("form[action='/actions/release'] input[name=reason]", "搬运轮椅")
        page.click("form[action='/actions/release'] button")
        page.wait_for_selector(".flash.good")
        assert page.locator("#lg-state").get_attribute("data-state") == "paused" and not lift.sim.relay_on()
        assert "local:maint" in page.locator("#lg-pause").inner_text()
        assert "现场解除" in page.locator("#lg-recent").inner_text()
        assert page.locator("#lg-recent img").evaluate("i => i.naturalWidth") == 240
        screenshot(page, "lift_guard-local-paused")
        page.goto(url + "/?lang=en")
        assert "released on site" in page.locator("#lg-recent").inner_text()
        screenshot(page, "lift_guard-local-paused-en")
        lift.sim.set_door(False)
        page.goto(url + "/?lang=zh")
        assert page.locator("#lg-state").get_attribute("data-state") == "paused"
        page.click("form[action='/actions/test_relay'] button")
        page.wait_for_selector(".flash.bad")
        assert "car may move" in page.locator(".flash.bad").inner_text() and not lift.sim.relay_on()
        screenshot(page, "lift_guard-local-refused")
    findings = check_agent_pages(url, PAGES, "agent-lift_guard")
    assert not findings, "\n".join(findings)
    res = a.runner.saved_result(next(e.data["id"] for e in a.recent_events
                                     if e.type == "cmd.executed" and e.data["name"] == "release"))
    assert res is not None and res.ok and res.result["released_block"]
