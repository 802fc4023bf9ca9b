"""The lift guard's server pages in real headless Chromium (Debian's): the overview (blocks per lift per day,
false-alarm releases, faults), a lift's snapshot gallery (purged snapshots say so; maintenance staff see no
pictures), and the audited release form. Screenshots: artifacts/screenshots/lift_guard-server-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ulid import ULID

from edge.apps.lift_guard.config import LiftGuardConfig
from edge.apps.lift_guard.scenes import ClipPainter, load_scenes
from edge.apps.lift_guard.sim import SCENES
from edge.vision import ClassMap, annotate, load_detector, to_jpeg
from linli.contract import DeviceRef, utcnow
from linli.contract import lift_guard as lev
from linli.i18n import SHANGHAI
from linli.provision import Credentials
from linli.testing import CHROMIUM, TestBroker, chromium, screenshot, wait_for
from server.app import create_app
from server.lift_guard.models import LiftBlock
from server.retention import purge_snapshots
from server.testing import PASSWORDS, DeviceSim, LiveServer, make_settings, running, stored
from tests.server.lift_guard.conftest import SITE

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")]


def evidence(n: int) -> list[bytes]:
    """Snapshots as the device makes them: simulated car frames with the real detector's boxes drawn."""
    cfg = LiftGuardConfig()
    det = load_detector(cfg.detector)
    classes = ClassMap(cfg.classes)
    painter = ClipPainter(load_scenes(SCENES).clips["demo"], 5.0, (640, 480))
    out = []
    for i in range(n):
        img = painter.frame(60 + 7 * i)  # the bike standing in the car
        found = classes.apply(det.detect(img))
        out.append(to_jpeg(annotate(img, found, classes.acting, None, f"2026-11-2{i} ebike"), 80, 640))
    return out


def earlier_today(now: datetime, minutes: int) -> datetime:
    """``minutes`` before ``now``, but never before midnight in Shanghai: the overview counts *today's* blocks there,
    so data made "30 minutes ago" in the half hour after 16:00 UTC would be yesterday's (the test failed so)."""
    local = now.astimezone(SHANGHAI)
    since_midnight = local - local.replace(hour=0, minute=0, second=0, microsecond=0)
    return now - min(timedelta(minutes=minutes), since_midnight * minutes / 120)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, mqtt_broker: TestBroker,
          lift_accounts: dict[str, tuple[DeviceRef, Credentials]]) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("liftweb")
    settings = make_settings(tmp, f"sqlite:///{tmp / 'lift.db'}", mqtt_broker)
    with running(create_app(settings)) as ls:
        ref, creds = lift_accounts["l1"]
        dev = DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds)
        now = utcnow()
        ids = []
        pics = evidence(6)
        plan = [(0, "cleared", None), (0, None, None), (1, "remote", "mgr.wang"), (2, "cleared", None),
                (3, "max_hold", None), (5, "cleared", None)]
        old = None
        for i, (days_ago, reason, by) in enumerate(plan):
            ts = earlier_today(now, 30 + i) - timedelta(days=days_ago)
            bid = str(ULID.from_datetime(ts))  # as the device makes it: time-sortable
            sha = dev.blob(pics[i])
            old = sha if days_ago == 5 else old
            data = {"block_id": bid, "cls": "ebike", "label": "motorcycle", "score": 0.9 - i * 0.03,
                    "scores": [0.9], "track_s": 0.6, "latency_ms": 420.0 + 30 * i, "seen_ms": 900.0, "objects": [],
                    "model": "ssd",
                    "relay": True}
            ids.append(dev.event(lev.BLOCK, ts=ts, severity="warning", data=data, blobs=[sha]).id)
            if reason:
                rel = {"block_id": bid, "reason": reason, "hold_s": 8.0 + i, "cls": "ebike", "best_score": 0.93,
                       "by": by, "note": "误报：电动轮椅" if by else None,
                       "fault": "max_hold" if reason == "max_hold" else None}
                ids.append(dev.event(lev.RELEASE, ts=ts + timedelta(seconds=9 + i),
                                     severity="alarm" if reason == "max_hold" else "info", data=rel).id)
        ids.append(dev.event(lev.FAULT, severity="alarm", data={"fault": "covered", "detail": "the lens looks covered",
                                                                "relay_released": False}).id)
        dev.telemetry(gauges={"state": "blocking", "relay_on": True})
        wait_for(lambda: stored(ls.server, *ids) == len(ids), 15, what="the lift's events")
        # the oldest snapshot ran out of its retention time
        with ls.server.db.session() as s:
            from server.db.models import Blob

            s.get(Blob, old).received_at = now - timedelta(days=40)  # type: ignore[union-attr]
        purge_snapshots(ls.server.db, ls.server.snapshots, 30)
        yield {"ls": ls, "dev": dev, "ref": ref}
        dev.close()


def _login(page: Any, ls: LiveServer, name: str, target: str) -> None:
    page.goto(ls.url + target)
    assert "/login" in page.url
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(ls.url + target)


def test_lift_pages_in_chromium(world: dict[str, Any]) -> None:
    ls: LiveServer = world["ls"]
    ref: DeviceRef = world["ref"]
    with chromium() as ctx:
        page = ctx.new_page()
        _login(page, ls, "admin", "/lift_guard")
        assert page.locator("h1.devtitle").inner_text().startswith("电梯阻车")
        row = page.locator(f"#lg-lifts tr[data-device='{ref.device}']")
        assert row.count() == 1 and "阻止中" in row.inner_text() and "镜头被遮挡" in row.inner_text()
        assert page.locator("#lg-today").inner_text() == "2" and page.locator("#lg-staff").inner_text() == "1"
        assert page.locator("#lg-open-faults").inner_text() == "1"
        screenshot(page, "lift_guard-server-overview")
        page.goto(ls.url + "/lift_guard?lang=en")
        assert "Blocks per lift per day" in page.content()
        screenshot(page, "lift_guard-server-overview-en")
        page.goto(ls.url + f"/lift_guard/{SITE}/{ref.device}?lang=zh")
        shots = page.locator("#lg-gallery figure")
        assert shots.count() == 6
        assert page.locator("#lg-gallery figure[data-snap=purged]").count() == 1
        assert "已按保留期删除" in page.locator("#lg-gallery figure[data-snap=purged]").inner_text()
        page.wait_for_function("() => [...document.querySelectorAll('#lg-gallery img')]"
                               ".every(i => i.complete && i.naturalWidth > 0)")
        assert page.locator("#lg-gallery img").count() == 5
        assert "误报：电动轮椅" in page.locator("#lg-gallery").inner_text()
        assert "超过最长保持" in page.locator("#lg-gallery").inner_text()
        screenshot(page, "lift_guard-server-device")
        page.fill("#lg-release-form input[name=reason]", "误报：婴儿车")
        page.select_option("#lg-release-form select[name=minutes]", "15")
        page.click("#lg-release-form button[type=submit]")
        page.wait_for_selector("#lg-flash")
        assert "已发送解除指令（15 分钟）" in page.locator("#lg-flash").inner_text()
        screenshot(page, "lift_guard-server-released")
    cmds = wait_for(lambda: [c for n, c in world["dev"].commands() if n == "release"], 5, what="release at the lift")
    assert cmds[-1].args == {"minutes": 15.0, "reason": "误报：婴儿车"} and cmds[-1].by == "admin"
    with chromium() as ctx:  # maintenance staff: no pictures, but the release form
        page = ctx.new_page()
        _login(page, ls, "maint", f"/lift_guard/{SITE}/{ref.device}")
        # one notice and the blocks as a list, not a wall of grey "hidden" tiles
        assert page.locator("#lg-gallery").count() == 0 and page.locator("img").count() == 0
        assert "不能查看抓拍图片" in page.locator("#lg-no-snaps").inner_text()
        assert page.locator("#lg-blocks li").count() == 6 and "误报：电动轮椅" in page.inner_text("#lg-blocks")
        assert page.locator("#lg-release-form").count() == 1
        screenshot(page, "lift_guard-server-device-maint")
    with ls.server.db.session() as s:
        assert s.query(LiftBlock).count() == 6
