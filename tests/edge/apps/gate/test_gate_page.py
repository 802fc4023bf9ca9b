"""The gate's local page in Chromium: lanes, a read waiting for the guard with its plate image, the guard opening
with a reason (audited, recorded as a manual passage), cash at the exit, the door and the list versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.apps.gate.scenes import jpeg, render_plate
from edge.apps.gate.sim import CarSim, LprCameraSim, lane_pins
from edge.hal.sim import PinBoard
from edge.runtime.harness import DEFAULT_PAGE_PASSWORD, AgentFactory, Recorder
from linli.contract.gate import ListEntry
from linli.testing import chromium, screenshot
from tests.edge.runtime.test_localpage_phone import PAGES, check_agent_pages

from .conftest import HAL, gate_app


@pytest.mark.browser
def test_local_page(gate_agents: AgentFactory, gate_recorder: Recorder) -> None:
    agent = gate_agents.make(hal=HAL, app=gate_app(tariff={"free_minutes": 0, "hourly_cents": 500,
                                                           "daily_cap_cents": 4000}))
    now = datetime.now(UTC)
    agent.app.store.upsert_entries([ListEntry(list="resident", key="沪A12345", plate="沪A12345",
                                              valid_from=now - timedelta(days=1), valid_to=now + timedelta(days=9),
                                              label="3号楼")])
    car_in = CarSim(PinBoard(), lane_pins(agent.cfg.hal, agent.app.cfg, "in"))
    cam_in, cam_out = LprCameraSim(agent.app.lpr.url, "cam-in"), LprCameraSim(agent.app.lpr.url, "cam-out")
    try:
        cam_in.push("沪A12345", plate_id=1, image=jpeg(render_plate("沪A12345", 0.5)))
        car_in.drive_through(0.1)
        cam_in.push("沪B24680", plate_id=2, image=jpeg(render_plate("沪B24680", 0.5)))
        car_in.drive_through(0.1)
        cam_out.push("沪B24680", plate_id=3, image=jpeg(render_plate("沪B24680", 0.5)))  # fee due
        cam_in.push("_无_", plate_id=4)  # no plate: the guard decides
        url = agent.page.url
        with chromium(http_credentials=("maint", DEFAULT_PAGE_PASSWORD)) as ctx:
            page = ctx.new_page()
            page.goto(url + "/")
            assert "等待保安确认" in page.locator("#lane-in-pending").inner_text()
            assert "应收 ¥5.00" in page.locator("#lane-out-pending").inner_text()
            assert page.locator("#lane-in img.crop").count() >= 2
            screenshot(page, "gate-local-waiting")
            # the reason is required (the browser will not send the form without it)
            page.locator("#lane-in form.open-form button").click()
            assert agent.app.lanes["in"].pending is not None
            page.locator("#lane-in form.open-form input[name=reason]").fill("送货车，已登记")
            page.locator("#lane-in form.open-form button").click()
            page.wait_for_load_state()
            assert agent.app.lanes["in"].pending is None
            page.locator("#lane-out-pending button", has_text="现金收费放行").click()
            page.wait_for_load_state()
            assert agent.app.lanes["out"].pending is None
            text = page.locator("#lane-in").inner_text()
            assert "人工放行" in text and "送货车，已登记" in text
            screenshot(page, "gate-local-after")
            page.goto(url + "/?lang=en")
            assert "Lanes" in page.locator("section.gate").inner_text()
            screenshot(page, "gate-local-en")
        findings = check_agent_pages(url, PAGES, "agent-gate")
        assert not findings, "\n".join(findings)
        manual = gate_recorder.wait(lambda: [e for e in gate_recorder.events(type="gate.passage")
                                             if e.data["decision"] == "manual"], what="manual passage")[0]
        assert manual.data["by"] == "local:maint" and manual.data["note"] == "送货车，已登记"
        executed = gate_recorder.wait(lambda: [e for e in gate_recorder.events(type="cmd.executed")
                                               if e.data["name"] == "open_barrier"], what="audited open")[0]
        assert executed.data["origin"] == "local"
    finally:
        cam_in.close()
        cam_out.close()
