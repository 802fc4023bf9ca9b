"""The parking fee paid from the driver's phone at the exit, end to end with real parts: the gate agent (LPR
camera push over HTTP, barrier relays on mock pins) → broker → server; Chromium at phone size opens the exit
lane's QR URL, sees the fee, pays on the simulated provider's cashier page; its signed notification goes through
the gate's own payment path (recorded once, ``session_paid`` to the gate) and the exit barrier opens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device as GpioDevice
from sqlalchemy import select

from edge.apps.gate.sim import CarSim, LprCameraSim, lane_pins
from edge.hal.pins import setup_pin_factory
from edge.hal.sim import PinBoard
from edge.runtime.harness import AgentFactory
from linli.contract import Kind
from linli.testing import TestBroker, chromium, screenshot, wait_for
from server.app import create_app
from server.gate.models import GatePassage, GatePayment, GateSession
from server.ingest.registry import HandlerRegistry
from server.kinds import ServerKinds
from server.payments.models import PayOrder
from server.resident.pages import lane_url
from server.testing import make_settings, running
from tests.edge.apps.gate.conftest import HAL, gate_app

PHONE = (360, 740)


@pytest.fixture(autouse=True)
def _fresh_pins() -> Iterator[None]:
    setup_pin_factory("mock")
    GpioDevice.pin_factory.reset()
    yield
    GpioDevice.pin_factory.reset()


@pytest.mark.browser
def test_exit_fee_paid_from_the_phone_opens_the_barrier(mqtt_broker: TestBroker, tmp_path: Path) -> None:
    reg = HandlerRegistry()
    ServerKinds.load([Kind.gate]).register_handlers(reg)
    settings = make_settings(tmp_path / "srv", f"sqlite:///{tmp_path / 'srv.db'}", mqtt_broker,
                             kinds={"gate": {"sync_interval_s": 0.2, "sync_retry_s": 2}},
                             payments={"provider": "sim"})
    factory = AgentFactory(mqtt_broker, tmp_path / "agents", site="t-gate", kind="gate", n=1)
    try:
        with running(create_app(settings, reg)) as ls:
            agent = factory.make(hal=HAL, app=gate_app(), start=False)
            site = agent.ref.site
            with ls.client("manager") as c:
                r = c.put(f"/api/v1/gate/sites/{site}/settings", json={
                    "tariff": {"free_minutes": 0, "hourly_cents": 600, "daily_cap_cents": 5000},
                    "capacity_temporary": 10})
                assert r.status_code == 200, r.text
            agent.start()
            wait_for(lambda: agent.app.store.settings.tariff.hourly_cents == 600, 15, what="tariff at the gate")
            board = PinBoard()
            car_in = CarSim(board, lane_pins(agent.cfg.hal, agent.app.cfg, "in"))
            car_out = CarSim(board, lane_pins(agent.cfg.hal, agent.app.cfg, "out"))
            cam_in, cam_out = LprCameraSim(agent.app.lpr.url, "cam-in"), LprCameraSim(agent.app.lpr.url, "cam-out")
            url = lane_url(ls.server.payments, ls.url, site, agent.ref.device, "out")
            with ls.client("maint") as c:  # the printable sheet carries this signed URL for the exit lane
                sheet = f"/resident/sheets/gate/{site}/{agent.ref.device}"
                wait_for(lambda: f'data-url="{url}"' in c.get(sheet).text, 10, what="the exit lane on the QR sheet")
            with chromium(viewport=PHONE, has_touch=True) as ctx:
                page = ctx.new_page()
                page.goto(url)
                assert "没有待缴费的车辆" in page.locator("#nobody").inner_text()

                cam_in.push("沪B77777", plate_id=1)
                car_in.drive_through(0.1)
                before = car_out.pulses()
                cam_out.push("沪B77777", plate_id=2)
                wait_for(lambda: agent.app.lanes["out"].pending is not None, 5, what="fee due at the exit")

                def pay_read() -> bool:
                    with ls.server.db.session() as s:
                        return s.scalars(select(GatePassage).where(GatePassage.lane == "out",
                                                                  GatePassage.decision == "pay")).first() is not None

                wait_for(pay_read, 10, what="the exit read at the server")
                page.reload()
                assert "沪B***77" in page.locator("#car").inner_text()
                assert "¥6.00" in page.locator("#due").inner_text()
                assert "沪B77777" not in page.content() and agent.ref.device not in page.content()
                assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0] + 1
                screenshot(page, "resident-exit")
                page.click("#pay")
                page.wait_for_selector("#confirm")
                page.click("#confirm")
                page.wait_for_url("**/r/o/**")
                assert car_out.wait_open(before, 10.0), "the exit did not open after paying on the phone"
                wait_for(lambda: page.locator("#phase").get_attribute("data-phase") == "opened", 15,
                         what="the phone says the barrier opened")
                screenshot(page, "resident-exit-paid")
            car_out.drive_through(0.1)
            with ls.client("maint") as c:  # once the gate has shown which lane is the entry, only exits are printed
                text = c.get(sheet).text
                assert f'data-url="{url}"' in text
                assert lane_url(ls.server.payments, ls.url, site, agent.ref.device, "in") not in text
            with ls.server.db.session() as s:
                o = s.scalars(select(PayOrder)).one()
                assert o.purpose == "parking" and o.state == "done" and o.amount_fen == 600 and o.refund_fen == 0
                pays = list(s.scalars(select(GatePayment).where(GatePayment.payment_id == o.out_trade_no)))
                assert len(pays) == 1 and pays[0].state == "applied" and pays[0].amount_cents == 600

            def closed() -> bool:
                with ls.server.db.session() as s:
                    return s.scalars(select(GateSession.state).where(GateSession.plate == "沪B77777")).one() == "closed"

            wait_for(closed, 10, what="parking session closed on the server")
    finally:
        factory.close()
