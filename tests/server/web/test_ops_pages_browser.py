"""The property manager's day in real headless Chromium (Debian's): log in, see the dashboards drawn with data
from simulated devices, get a live notification, open a work order from an event, dispatch it, the maintenance
worker handles it with a note and a photo, the manager verifies and closes it; device management with
confirmation. Screenshots: artifacts/screenshots/ops-*.png."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linli.contract import Channel, decode
from linli.testing import CHROMIUM, TestBroker, chromium, screenshot, wait_for
from server.app import create_app
from server.testing import PASSWORDS, DevicePool, DeviceSim, LiveServer, known, make_settings, running, stored

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00"
       b"\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, mqtt_broker: TestBroker, device_pool: DevicePool
          ) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("opsweb")
    settings = make_settings(tmp, f"sqlite:///{tmp / 'ops.db'}", mqtt_broker)
    devs: list[DeviceSim] = []
    with running(create_app(settings)) as ls:
        for name in ("p1", "p2", "e1"):
            ref, creds = device_pool[name]
            devs.append(DeviceSim(mqtt_broker.host, mqtt_broker.port, ref, creds))
            known(ls.server, ref)
        d1, _d2, d3 = devs
        ids = []
        for d in devs:
            d.telemetry()
            ids += [d.event("probe.input").id for _ in range(4)]
        fault = f"camera_fault_{uuid.uuid4().hex[:4]}"
        ids += [d1.event("probe.fault", severity="alarm", data={"fault": fault}).id for _ in range(5)]
        warn = d1.event("probe.door_slow", severity="warning", data={"fault": "door_slow"})
        ids += [warn.id, d3.event("probe.fault", severity="alarm", data={"fault": "smoke"}).id]
        wait_for(lambda: stored(ls.server, *ids) == len(ids), what="the fleet's events")
        yield {"ls": ls, "devs": devs, "fault": fault, "warn": warn}
        for d in devs:
            d.close()


def _login(page: Any, ls: LiveServer, name: str, target: str) -> None:
    page.goto(ls.url + target)
    assert "/login" in page.url  # sent to the login form first
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(ls.url + target)


def test_manager_day_in_chromium(world: dict[str, Any], tmp_path: Path) -> None:
    ls: LiveServer = world["ls"]
    d1 = world["devs"][0]
    with chromium() as ctx:
        mctx = ctx.browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")  # a 2nd person
        page = ctx.new_page()
        page.on("dialog", lambda d: d.accept())
        page.goto(ls.url + "/dashboards")
        page.wait_for_url("**/login?next=*")
        page.fill("input[name=username]", "manager")
        page.fill("input[name=password]", "wrong-password")
        page.click("button[type=submit]")
        assert "用户名或密码不正确" in page.inner_text("#login-error")
        screenshot(page, "ops-login-failed")
        page.fill("input[name=username]", "manager")
        page.fill("input[name=password]", PASSWORDS["manager"])
        page.click("button[type=submit]")
        page.wait_for_url(ls.url + "/dashboards")
        # every chart drawn from the API with data
        # (a locator, not wait_for_function: the pages' CSP forbids the eval that one needs)
        page.locator('.chart[data-loaded="1"]').nth(4).wait_for(timeout=15000)
        assert page.locator(".chart .nodata").count() <= 2  # work-order closing and faults may be empty yet
        text = page.inner_text("main")
        assert "运营看板" in text and "在线率" in text and "调试探针" in text
        page.wait_for_selector(".live-dot.on", timeout=10000)  # the live stream is connected
        screenshot(page, "ops-dashboard-fleet")
        page.click("nav.tabs >> text=调试探针")
        page.locator('.chart[data-loaded="1"]').nth(2).wait_for(timeout=15000)
        screenshot(page, "ops-dashboard-probe")
        # a new alarm elsewhere: a live notification appears without reloading
        ev = world["devs"][1].event("probe.fault", severity="alarm", data={"fault": "overheat"})
        toast = page.wait_for_selector(".toast", timeout=15000)
        assert "overheat" in toast.inner_text()
        screenshot(page, "ops-notification")
        assert stored(ls.server, ev.id) == 1
        # the work-order list shows the storm as one order with its count
        page.goto(ls.url + "/workorders")
        row = page.locator("#orders tr", has_text=world["fault"].replace("_", " "))  # undeclared: its words
        assert row.count() == 1 and "5" in row.inner_text()
        screenshot(page, "ops-workorders")
        # open a work order from the warning event on the device page
        page.goto(ls.url + f"/devices/{d1.ref.key}")
        page.locator(f"tr[data-event='{world['warn'].id}'] button").click()
        page.wait_for_url("**/workorders/*")
        assert "door slow" in page.inner_text("h1") and "已受理" in page.inner_text("#wo-state")
        screenshot(page, "ops-workorder-opened-from-event")
        # the storm's order: dispatch to the maintenance worker
        page.goto(ls.url + "/workorders")
        page.locator("#orders tr", has_text=world["fault"].replace("_", " ")).locator("a").first.click()
        page.wait_for_url("**/workorders/*")
        order_url = page.url
        page.select_option(".step-dispatch select[name=assignee]", "maint")
        page.click(".step-dispatch button")
        page.wait_for_selector(".flash.ok")
        assert "已派遣" in page.inner_text("#wo-state")
        screenshot(page, "ops-workorder-dispatched")
        # the maintenance worker (own browser) handles it with a note and a photo
        mpage = mctx.new_page()
        _login(mpage, ls, "maint", order_url.removeprefix(ls.url))
        photo = tmp_path / "fix.png"
        photo.write_bytes(PNG)
        mpage.set_input_files("input[name=photo]", str(photo))
        mpage.locator("form[enctype] button").click()
        mpage.wait_for_selector(".photos img")
        mpage.fill(".step-handle textarea[name=note]", "更换了摄像头电源适配器")
        mpage.click(".step-handle button")
        mpage.wait_for_selector(".flash.ok")
        assert "已处置" in mpage.inner_text("#wo-state")
        screenshot(mpage, "ops-workorder-handled")
        # the manager verifies and closes it
        page.goto(order_url)
        page.click(".step-verify button")
        page.wait_for_selector(".flash.ok")
        page.click(".step-close button")
        page.wait_for_selector(".flash.ok")
        assert "已结案" in page.inner_text("#wo-state")
        history = page.inner_text("#history")
        for step in ("受理", "派遣", "照片", "处置", "核查", "结案"):
            assert step in history, step
        screenshot(page, "ops-workorder-closed")
        # the audit log page shows who did it
        page.goto(ls.url + "/audit?action=workorder.")
        audit = page.inner_text("#audit")
        assert "结案" in audit and "maint" in audit and "处置工单" in audit  # actions by their names
        screenshot(page, "ops-audit")
        # device management (maintenance): a command needs the confirmation box, a reason and the dialog
        mpage.goto(ls.url + f"/devices/{d1.ref.key}")
        assert "抓拍仅限物业经理查看" in mpage.inner_text("main") or "/api/v1/blobs/" not in mpage.content()
        # the command picker: the kind's commands from the contract, each a typed form of its arguments
        pick = mpage.locator("#command-picker details[data-command=pulse]")
        assert "脉冲输出" in pick.locator("summary").inner_text()
        pick.locator("summary").click()
        seconds = pick.locator("input[name='arg.seconds']")
        assert seconds.get_attribute("type") == "number" and seconds.get_attribute("max") == "5.0"
        assert seconds.input_value() == "0.5"  # the model's default
        seconds.fill("1")
        pick.locator("input[name=reason]").fill("测试道闸")
        pick.locator("input[name=confirm]").check()
        mpage.on("dialog", lambda d: d.accept())
        pick.locator("button").click()
        mpage.wait_for_selector(".flash.ok")
        got = wait_for(lambda: [c for n, c in d1.commands() if n == "pulse"], what="command at the device")
        assert got[-1].args == {"seconds": 1.0} and got[-1].by == "maint"
        # a boolean argument is a checkbox (set: on)
        pick = mpage.locator("#command-picker details[data-command=set]")
        pick.locator("summary").click()
        pick.locator("input[name='arg.on']").check()
        pick.locator("input[name=reason]").fill("测试输出")
        pick.locator("input[name=confirm]").check()
        pick.locator("button").click()
        mpage.wait_for_selector(".flash.ok")
        got = wait_for(lambda: [c for n, c in d1.commands() if n == "set"], what="set at the device")
        assert got[-1].args == {"on": True}
        # out of range: refused with the reason, nothing sent
        pick = mpage.locator("#command-picker details[data-command=pulse]")
        pick.locator("summary").click()
        pick.locator("input[name='arg.seconds']").evaluate("e => { e.max = ''; e.min = ''; }")
        pick.locator("input[name='arg.seconds']").fill("9")
        pick.locator("input[name=reason]").fill("太长")
        pick.locator("input[name=confirm]").check()
        pick.locator("button").click()
        mpage.wait_for_selector(".flash.bad")
        assert "seconds" in mpage.inner_text(".flash.bad")
        assert len([c for n, c in d1.commands() if n == "pulse"]) == 1
        # desired config: a form from the kind's config schema (names, units), not JSON
        cfg = mpage.locator("#config-form")
        assert "最长脉冲" in cfg.inner_text() and "pulse_max_s" not in cfg.inner_text()
        cfg.locator("input[name='cfg.pulse_max_s']").fill("2")
        cfg.locator("input[name=reason]").fill("缩短测试脉冲")
        cfg.locator("button[type=submit]").click()
        mpage.wait_for_selector(".flash.ok")
        desired = wait_for(lambda: d1.messages(d1.ref.config_desired_topic), what="desired config at the device")
        got_cfg = decode(Channel.config_desired, desired[-1][1])
        assert got_cfg.overrides == {"pulse_max_s": 2.0}  # type: ignore[attr-defined]
        version = got_cfg.version  # type: ignore[attr-defined]
        d1.report_config(version)

        def reported() -> bool:
            mpage.reload()
            return "已应用" in mpage.inner_text("#cfg-reported")

        wait_for(reported, interval=0.3, what="reported config on the page")
        screenshot(mpage, "ops-device-management")
        # the admin's user page
        actx_page = ctx.new_page()
        actx_page.goto(ls.url + "/admin/users")
        assert actx_page.url.endswith("/admin/users")  # a manager's session: refused
        assert "403" in actx_page.content() or "may not" in actx_page.content()
    with chromium() as actx:
        apage = actx.new_page()
        _login(apage, ls, "admin", "/admin/users")
        assert "用户与角色" in apage.inner_text("main")
        screenshot(apage, "ops-users")
