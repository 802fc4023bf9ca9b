"""The lift guard end to end: a simulated camera shows an e-bike pushed into the car → the real detector →
the hold relay (mock pin) and the voice prompt → snapshot and event through Mosquitto → the server's database and
API (snapshot stored, block per lift per day) → a manager's colleague releases it from the server → the command
reaches the agent → the relay drops and the pause is recorded on both sides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from edge.runtime.harness import AgentFactory
from linli.contract import lift_guard as lev
from linli.testing import TestBroker, wait_for
from server.app import create_app
from server.lift_guard.models import LiftBlock, LiftPause
from server.testing import LiveServer, jbody, make_settings, running
from tests.edge.apps.lift_guard.conftest import LiftFactory

SITE = "t-lift-e2e"


@pytest.fixture
def env(mqtt_broker: TestBroker, tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = make_settings(tmp_path / "srv", f"sqlite:///{tmp_path / 'srv.db'}", mqtt_broker)
    factory = AgentFactory(mqtt_broker, tmp_path / "agents", site=SITE, kind="lift_guard", n=1)
    lifts = LiftFactory(factory)
    with running(create_app(settings)) as ls:
        yield {"ls": ls, "lifts": lifts}
        lifts.close()


def _block(ls: LiveServer) -> LiftBlock | None:
    with ls.server.db.session() as s:
        return s.scalars(select(LiftBlock)).first()


def test_ebike_block_reaches_the_server_with_its_snapshot_and_the_server_releases_it(
        env: dict[str, Any], tmp_path: Path) -> None:
    from edge.apps.lift_guard.scenes import load_scenes, write_clip
    from edge.apps.lift_guard.sim import SCENES

    clip = write_clip(tmp_path / "bike.mp4", load_scenes(SCENES).clips["bike_stays"], 10.0, (320, 240))
    ls: LiveServer = env["ls"]
    lift = env["lifts"].make(Path(clip))
    a = lift.agent
    wait_for(lift.sim.relay_on, 15, what="hold relay on")
    assert a.hal.speaker.history[0].text.startswith("电动车禁止进入电梯")
    row = wait_for(lambda: (b := _block(ls)) is not None and b.snapshot and b, 15, what="block at the server")
    assert row.cls == "ebike" and row.reason is None and row.latency_ms is not None
    with ls.client("admin") as c:
        r = c.get(f"/api/v1/blobs/{row.snapshot}")
        assert r.status_code == 200 and r.content[:3] == b"\xff\xd8\xff"
        lift_stats = jbody(c.get("/api/v1/lift_guard/stats", params={"days": 1, "site": SITE}))["lifts"][0]
        assert lift_stats["device"] == a.ref.device and lift_stats["totals"]["blocks"] == 1
    with ls.client("maint") as c:
        r = c.post(f"/api/v1/lift_guard/devices/{SITE}/{a.ref.device}/release",
                   json={"minutes": 2, "reason": "误报：电动轮椅"})
        assert r.status_code == 202 and jbody(r)["published"]
        cmd_id = jbody(r)["id"]
    wait_for(lambda: not lift.sim.relay_on(), 10, what="relay released by the server's command")
    assert a.app.state() == "paused"
    done = wait_for(lambda: (b := _block(ls)) is not None and b.reason and b, 10, what="release at the server")
    assert done.reason == "remote" and done.released_by == "maint" and done.staff_release
    assert done.note == "误报：电动轮椅"
    with ls.client("admin") as c:
        wait_for(lambda: jbody(c.get(f"/api/v1/commands/{cmd_id}"))["state"] == "ok", 10, what="command result ok")
    with ls.server.db.session() as s:
        pause = wait_for(lambda: s.scalars(select(LiftPause)).first(), 10, what="pause at the server")
        assert pause.by == "maint" and pause.origin == "mqtt" and pause.released_block == done.block_id
    assert [e.type for e in list(a.recent_events) if e.type.startswith("lift.")][:3] == [
        lev.SUPPRESS, lev.RELEASE, lev.BLOCK]
