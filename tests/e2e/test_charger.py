"""Agent → broker → server → settle_ack → agent, with the acknowledgement lost on the way: billed once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from edge.runtime.agent import Agent
from edge.runtime.config import load_config
from linli.testing import TestBroker, wait_for
from server.app import create_app
from server.charger.models import ChargerOrder
from server.charger.worker import send_due_acks
from server.testing import make_settings, running
from tests.edge.apps.charger.conftest import factory, make_bench, recorder

__all__ = ["factory", "make_bench", "recorder"]  # the charger bench fixtures, used here end to end


def test_settlement_ack_lost_then_resent_is_billed_once(make_bench: Any, mqtt_broker: TestBroker,
                                                          tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "srv", f"sqlite:///{tmp_path / 'srv.db'}", mqtt_broker)
    with running(create_app(settings)) as ls:
        srv = ls.server
        srv.kind_services["charger"].stop()  # acks are sent by hand below, to lose one on purpose

        def order() -> ChargerOrder | None:
            with srv.db.session() as s:
                return s.execute(select(ChargerOrder).where(ChargerOrder.order_id == "ack-1")).scalar_one_or_none()

        b = make_bench()
        b.pile.plug(2, "ebike_48v")
        b.settle()
        assert b.command("start", port=2, order_id="ack-1", prepaid_fen=500).ok
        b.advance(1800, step=300)
        b.pile.unplug(2)
        wait_for(lambda: (o := order()) is not None and o.state == "settled", 15, what="bill at the server")
        first = order()
        assert first is not None and first.ack_due and first.settlements_received == 1

        b.agent.stop()  # the pile goes offline (clean MQTT start: nothing is queued for it) ...
        assert send_due_acks(srv) == 1  # ... so this settle_ack never reaches it
        again = Agent(load_config(b.config_path()), clock=b.clock)  # back online, the settlement still pending
        b.factory.agents.append(again)
        again.start()
        b.agent = again
        assert again.app.journal.settlement("ack-1")["state"] == "pending"
        b.advance(61, step=61)  # settle_resend_s: the device sends the same order again
        wait_for(lambda: (o := order()) is not None and o.settlements_received >= 2 and o.ack_due, 15,
                 what="resent settlement at the server")
        assert send_due_acks(srv) == 1
        wait_for(lambda: again.app.journal.settlement("ack-1")["state"] == "acked", 15, what="ack at the device")
        final = order()
        assert final is not None and final.amount_fen == first.amount_fen and final.energy_wh == first.energy_wh
        assert final.settlements_received >= 2 and final.acks_sent == 2
        with srv.db.session() as s:
            assert len(list(s.scalars(select(ChargerOrder).where(ChargerOrder.order_id == "ack-1")))) == 1
        n = len(b.events("charger.settlement"))
        b.advance(300, step=100)
        assert len(b.events("charger.settlement")) == n  # acknowledged: never sent again
