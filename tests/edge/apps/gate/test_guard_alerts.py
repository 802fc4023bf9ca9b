"""Guard alerts on the lane's local page (issue 15, item 4): a blacklisted car's passage (the contract's ``guard``
audience) is listed under 保安警报 with its plate; an ordinary passage is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.apps.gate.sim import LprCameraSim
from edge.runtime.harness import AgentFactory, Recorder
from linli.contract.gate import ListEntry
from linli.testing import wait_for

from .conftest import HAL, gate_app


def test_blacklisted_car_is_a_guard_alert_on_the_local_page(gate_agents: AgentFactory,
                                                            gate_recorder: Recorder) -> None:
    agent = gate_agents.make(hal=HAL, app=gate_app())
    now = datetime.now(UTC)
    agent.app.store.upsert_entries([
        ListEntry(list="blacklist", key="沪E44445", plate="沪E44445", label="欠费"),
        ListEntry(list="resident", key="沪A12345", plate="沪A12345", valid_from=now - timedelta(days=1),
                  valid_to=now + timedelta(days=9), label="3号楼")])
    cam = LprCameraSim(agent.app.lpr.url, "cam-in")
    cam.push("沪A12345", plate_id=1)
    wait_for(lambda: any(r.get("plate") == "沪A12345" for r in agent.app.lanes["in"].recent), what="resident")
    assert "保安警报" not in agent.app.page_fragment("zh")
    cam.push("沪E44445", plate_id=2)
    wait_for(lambda: len(agent.app.guard_alerts) == 1, what="the blacklisted car listed for the guard")
    zh = agent.app.page_fragment("zh")
    assert "保安警报" in zh and "车辆通行" in zh and "44445" in zh and "黑名单" in zh
    assert "Guard alerts" in agent.app.page_fragment("en")
