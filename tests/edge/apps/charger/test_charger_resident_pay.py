"""A resident's whole charge from their phone, end to end with real parts: Chromium at phone size (360 px) →
the server's resident pages → the simulated payment provider (cashier page, signed notification over HTTP) →
start with the order number over the real broker → the charger agent → the pile simulator on a pty; live values
from the agent's telemetry; stop from the phone; settlement → unused prepay refunded → receipt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from linli.testing import TestBroker, chromium, screenshot, wait_for
from server.app import create_app
from server.charger.models import ChargerOrder
from server.db.models import Device
from server.payments.models import PayOrder
from server.payments.sim import SimProvider
from server.resident.pages import port_url
from server.testing import make_settings, running

PHONE = (360, 740)


def start_with_fast_telemetry(b: Any) -> None:
    b.config_path = lambda: b.factory.config(b.ref, hal=b.hal_doc(), app=b.app_doc, telemetry_interval_s=0.5)[1]
    b.start_agent()


def no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0] + 1


@pytest.mark.browser
def test_scan_pay_watch_stop_refund_receipt(make_bench: Any, mqtt_broker: TestBroker, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "srv", f"sqlite:///{tmp_path / 'srv.db'}", mqtt_broker,
                             payments={"provider": "sim", "start_timeout_s": 15})
    with running(create_app(settings)) as ls:
        srv = ls.server
        b = make_bench(start=False)
        b.pile.plug(3, "ebike_48v")
        start_with_fast_telemetry(b)

        _ready(srv, b, 3, "plugged")
        url = port_url(srv.payments, ls.url, b.ref.site, b.ref.device, 3)
        with chromium(viewport=PHONE, has_touch=True) as ctx:
            page = ctx.new_page()
            page.goto(url)  # the QR code's URL, as a phone camera opens it
            assert page.locator("#port").inner_text() == "3 号插座"
            assert "已插好插头" in page.locator("#state").inner_text()
            assert "每小时" in page.locator("#tariff").inner_text()
            no_sideways_scroll(page)
            screenshot(page, "resident-port")
            page.check("input[value='amount:500']")
            page.click("#pay")
            page.wait_for_selector("#confirm")  # the provider's cashier page
            assert "¥5.00" in page.content()
            screenshot(page, "resident-cashier")
            page.click("#confirm")
            page.wait_for_url("**/r/o/**")
            wait_for(lambda: page.locator("#phase").get_attribute("data-phase") == "charging", 20,
                     what="page shows charging")
            wait_for(lambda: b.pile.relay_on(3), 5, what="relay on")
            # the provider notifies again (its own resend): answered, and nothing more starts
            with srv.db.session() as s:
                oid = s.scalars(select(PayOrder.out_trade_no)).one()
            prov = srv.payments.provider
            assert isinstance(prov, SimProvider) and prov.renotify(oid) == 200
            b.advance(1200, step=300)  # 20 simulated minutes of charging
            wait_for(lambda: page.locator("#v-energy").inner_text() not in ("—", "0.000 kWh"), 15,
                     what="live energy on the phone")
            assert "¥" in page.locator("#v-cost").inner_text() and "W" in page.locator("#v-power").inner_text()
            no_sideways_scroll(page)
            screenshot(page, "resident-charging")
            page.click("#stop")
            wait_for(lambda: page.locator("#phase").get_attribute("data-phase") == "done", 20,
                     what="charge settled on the phone")
            wait_for(lambda: not b.pile.relay_on(3), 5, what="relay off")

            def pay_row() -> PayOrder:
                with srv.db.session() as s:
                    return s.scalars(select(PayOrder)).one()

            wait_for(lambda: pay_row().refund_state == "done", 15, what="unused prepay refunded")
            page.reload()
            receipt = page.locator("#receipt").inner_text()
            o = pay_row()
            with srv.db.session() as s:
                co = s.scalars(select(ChargerOrder).where(ChargerOrder.order_id == o.out_trade_no)).one()
            assert co.stop_reason == "remote_stop" and co.source == "remote" and co.prepaid_fen == 500
            assert o.refund_fen == 500 - co.amount_fen > 0 and o.refund_reason == "unused"
            for field in ("开始时间", "结束时间", "充电时长", "充电电量", "功率档位", "档位依据", "服务费单价",
                          "服务量", "合计", "预付", "¥5.00", f"已退回 ¥{o.refund_fen / 100:.2f}"):
                assert field in receipt, field
            assert f"¥{co.amount_fen / 100:.2f}" in receipt
            assert o.out_trade_no not in page.content() and b.ref.device not in page.content()
            no_sideways_scroll(page)
            screenshot(page, "resident-receipt")
            page.click("#lang")
            assert "Charging receipt" in page.content() and "Refund" in page.locator("#receipt").inner_text()
            screenshot(page, "resident-receipt-en")
        assert len([e for e in b.events("charger.session_started") if e.data["order_id"] == o.out_trade_no]) == 1


def test_paid_start_refused_by_the_pile_is_refunded(make_bench: Any, mqtt_broker: TestBroker,
                                                     tmp_path: Path) -> None:
    """The port was free when the resident scanned, but a card took it before the payment went through: the
    real agent refuses the start (port busy) and the whole payment goes back."""
    import httpx

    settings = make_settings(tmp_path / "srv", f"sqlite:///{tmp_path / 'srv.db'}", mqtt_broker,
                             payments={"provider": "sim", "start_timeout_s": 15})
    with running(create_app(settings)) as ls:
        srv = ls.server
        b = make_bench(start=False)
        b.pile.plug(5, "ebike_48v")
        start_with_fast_telemetry(b)
        _ready(srv, b, 5, "plugged")
        url = port_url(srv.payments, ls.url, b.ref.site, b.ref.device, 5)
        with httpx.Client(timeout=10) as c:
            r = c.post(url + "/pay", data={"choice": "full:0"})
            assert r.status_code == 303 and "/pay/sim/" in r.headers["location"]
            assert b.command("start", port=5, order_id="card-first", prepaid_fen=300).ok  # someone else's start
            r = c.post(ls.url + r.headers["location"] + "/confirm")
            assert r.status_code == 303

            def pay_row() -> PayOrder:
                with srv.db.session() as s:
                    return s.scalars(select(PayOrder)).one()

            wait_for(lambda: pay_row().refund_state == "done", 15, what="refund after the pile refused")
            o = pay_row()
            assert o.failure == "start_refused" and o.refund_fen == o.amount_fen == 1000
            page = c.get(ls.url + f"/r/o/{o.view_key}").text
            assert "未能开始充电" in page and "已退回 ¥10.00" in page
        assert b.ctl.ports[4].session.order_id == "card-first"  # the other session runs on, untouched


def _ready(srv: Any, b: Any, port: int, state: str) -> None:
    """The server sees the pile online, its controller answering, and ``port`` in ``state``."""
    def ok() -> bool:
        d = _dev(srv, b.ref.device)
        g = (d.gauges or {}) if d is not None else {}
        return d is not None and d.state == "online" and g.get("mcu_ok") is True and g.get(f"p{port}_state") == state

    wait_for(ok, 15, what=f"pile online, port {port} {state} at the server")


def _dev(srv: Any, device: str) -> Device | None:
    with srv.db.session() as s:
        return s.scalars(select(Device).where(Device.device == device)).first()


def test_paid_but_never_plugged_in_is_refunded_in_full(make_bench: Any, mqtt_broker: TestBroker,
                                                       tmp_path: Path) -> None:
    """Paid first, bike never plugged in: the page asks for the plug; after the pile's wait the session settles
    as ``no_plug`` and all the money goes back."""
    import httpx

    settings = make_settings(tmp_path / "srv", f"sqlite:///{tmp_path / 'srv.db'}", mqtt_broker,
                             payments={"provider": "sim", "start_timeout_s": 15})
    with running(create_app(settings)) as ls:
        srv = ls.server
        b = make_bench(start=False)
        start_with_fast_telemetry(b)
        _ready(srv, b, 7, "idle")
        url = port_url(srv.payments, ls.url, b.ref.site, b.ref.device, 7)
        with httpx.Client(timeout=10) as c:
            r = c.post(url + "/pay", data={"choice": "duration:60"})
            assert "/pay/sim/" in r.headers["location"], r.headers["location"]
            r = c.post(ls.url + r.headers["location"] + "/confirm")
            page_url = r.headers["location"]
            wait_for(lambda: 'data-phase="waiting_plug"' in c.get(page_url).text, 15, what="asks for the plug")
            assert "请插入充电插头" in c.get(page_url).text and not b.pile.relay_on(7)
            b.advance(121, step=121)  # limits.wait_plug_s
            wait_for(lambda: 'data-phase="done"' in c.get(page_url).text, 15, what="settled")
            with srv.db.session() as s:
                o = s.scalars(select(PayOrder)).one()
            wait_for(lambda: "已退回 ¥2.50" in c.get(page_url).text, 15, what="full refund on the receipt")
            text = c.get(page_url).text
            assert "付款后未插入插头" in text and "¥0.00" in text
        assert o.minutes == 60 and o.amount_fen == 250  # an hour at the top band's price, refunded in full
