"""Charging sessions end to end through the simulators over real serial bytes: start, charge, stop, bill, settle."""

from __future__ import annotations

from typing import Any

from linli.contract.charger import Settlement
from linli.testing import wait_for


def bills(b: Any) -> list[Settlement]:
    return [Settlement.model_validate(e.data) for e in b.events("charger.settlement")]


def test_full_charge_floats_then_finishes_and_is_settled_once(make_bench: Any) -> None:
    b = make_bench()
    b.pile.plug(3, "ebike_48v")
    b.settle()
    assert b.ctl.ports[2].state == "plugged"
    res = b.command("start", port=3, order_id="ord-full-1", user="app:13800000000")
    assert res.ok and res.result["state"] == "charging" and b.pile.relay_on(3)
    started = b.wait_events("charger.session_started")[0].data
    assert started["order_id"] == "ord-full-1" and started["port"] == 3 and started["tariff_version"] == 1
    b.advance(3 * 3600, step=600)
    assert not b.events("charger.fault"), [e.data for e in b.events("charger.fault")]
    assert b.ctl.ports[2].state == "charging" and 100 < b.ctl.ports[2].power_w < 140
    b.advance(4 * 3600, step=600)  # CV taper, then float at ≈2 W; float_s 1800 later: full
    wait_for(lambda: not b.pile.relay_on(3), 5, what="relay off when full")
    bill = b.wait_events("charger.settlement")[0]
    s = Settlement.model_validate(bill.data)
    assert s.stop_reason == "full" and s.order_id == "ord-full-1" and s.mode == "time_tiers"
    assert 450 < s.energy_wh < 800, s.energy_wh  # a 48 V 12 Ah pack from 25 %, as the meter saw it
    assert s.tier_w == 200 and s.max_power_w > 100
    # the tier and why, on the settlement: the highest power held for the tariff's 60 s window
    assert s.tier_basis == "held" and s.tier_window_s == 60 and 100 < (s.tier_power_w or 0) <= s.max_power_w
    # 0.25 元/h for whole minutes charged
    assert s.amount_fen == (25 * -(-s.charged_s // 60) + 30) // 60  # half up
    assert b.ctl.ports[2].state == "finished"
    # not acknowledged: resent with the same order id (a new event id, attempt + 1); acknowledged: never again
    n = len(b.events("charger.settlement"))
    b.advance(61, step=61)
    again = b.wait_events("charger.settlement", n + 1)
    assert {e.data["order_id"] for e in again} == {"ord-full-1"}
    assert [e.data["attempt"] for e in again] == list(range(1, len(again) + 1))
    assert len({e.id for e in again}) == len(again)
    ack = b.command("settle_ack", order_ids=["ord-full-1"])
    assert ack.ok and ack.result == {"acked": ["ord-full-1"]}
    assert b.command("settle_ack", order_ids=["ord-full-1"]).result == {"acked": []}  # idempotent
    m = len(b.events("charger.settlement"))
    b.advance(300, step=100)
    assert len(b.events("charger.settlement")) == m
    assert b.agent.app.journal.settlement("ord-full-1")["state"] == "acked"
    b.pile.unplug(3)
    b.settle()
    assert b.ctl.ports[2].state == "idle"


def test_card_unplug_mid_session_refunds_unused_prepay(make_bench: Any) -> None:
    b = make_bench()
    b.pile.plug(5, "ebike_48v")
    b.settle()
    b.world.swipe("00BC614E")  # hex, as this reader writes it: the same card is 12345678 at the gate door
    wait_for(lambda: b.ctl.ports[4].session is not None, 5, what="card session")
    assert b.pile.relay_on(5)
    b.advance(3600, step=600)
    b.pile.unplug(5)
    s = Settlement.model_validate(b.wait_events("charger.settlement")[0].data)
    assert s.stop_reason == "unplugged" and s.source == "card" and s.user == "12345678"
    assert s.prepaid_fen == 500 and s.amount_fen == 25 and s.refund_fen == 475
    assert not b.pile.relay_on(5)


def test_coins_buy_time_and_the_session_ends_when_it_is_used(make_bench: Any) -> None:
    b = make_bench()
    b.pile.plug(1, "ebike_48v")
    b.settle()
    b.world.insert_coins(1)
    b.advance(3, step=1)  # the coin window closes
    wait_for(lambda: b.ctl.ports[0].session is not None, 5, what="coin session")
    assert b.ctl.ports[0].session.prepaid_s == 240 * 60
    b.advance(4 * 3600, step=600)
    s = Settlement.model_validate(b.wait_events("charger.settlement")[0].data)
    assert s.stop_reason == "time_used" and s.mode == "coin_time" and s.amount_fen == 100 and s.refund_fen == 0
    assert 240 * 60 <= s.charged_s <= 240 * 60 + 600


def test_paid_port_waits_for_a_plug_then_gives_up(make_bench: Any) -> None:
    b = make_bench()
    res = b.command("start", port=2, order_id="ord-wait", prepaid_fen=300)
    assert res.ok and res.result["state"] == "authorised" and not b.pile.relay_on(2)
    b.advance(60, step=30)
    b.pile.plug(2, "phone")
    wait_for(lambda: b.pile.relay_on(2), 5, what="switch-on at plug")
    b.command("stop", port=2, order_id="ord-wait")
    s = Settlement.model_validate(b.wait_events("charger.settlement")[0].data)
    assert s.stop_reason == "remote_stop" and s.refund_fen == 300 - s.amount_fen
    res = b.command("start", port=4, order_id="ord-never", prepaid_fen=300)
    b.advance(121, step=30)
    s2 = Settlement.model_validate(b.recorder.wait(
        lambda: next((e.data for e in b.events("charger.settlement") if e.data["order_id"] == "ord-never"), None),
        what="settlement of ord-never"))
    assert s2.stop_reason == "no_plug" and s2.amount_fen == 0 and s2.refund_fen == 300


def test_duplicate_remote_start_starts_once_and_busy_port_is_refused(make_bench: Any) -> None:
    b = make_bench()
    b.pile.plug(6, "ebike_48v")
    b.settle()
    first = b.command("start", port=6, order_id="pay-777", prepaid_fen=200)
    again = b.command("start", port=6, order_id="pay-777", prepaid_fen=200)
    assert first.ok and not first.result["duplicate"]
    assert again.ok and again.result["duplicate"] and again.result["order_id"] == "pay-777"
    other = b.command("start", port=6, order_id="pay-778", prepaid_fen=200)
    assert not other.ok and "busy" in (other.error or "")
    b.settle(3)
    assert len(b.events("charger.session_started")) == 1
    b.command("stop", port=6)
    b.wait_events("charger.settlement")
    late = b.command("start", port=6, order_id="pay-777", prepaid_fen=200)  # the payment re-sent after the end
    assert late.ok and late.result["duplicate"] and b.ctl.ports[5].session is None


def test_energy_tariff_by_time_of_use_and_tariff_version_kept(make_bench: Any) -> None:
    tariff = {"version": 3, "mode": "energy_tou",
              "tou": [{"start": "08:00", "end": "22:00", "yuan_per_kwh": 1.0},
                      {"start": "22:00", "end": "08:00", "yuan_per_kwh": 0.5}]}
    b = make_bench({"tariff": tariff})
    b.pile.plug(7, "ebike_72v_modified")
    b.settle()
    assert b.command("start", port=7, order_id="tou-1", prepaid_fen=1000).ok
    b.advance(3600, step=300)
    # the server raises the tariff while the session runs: the session keeps version 3
    new = {**tariff, "version": 4, "tou": [{"start": "00:00", "end": "00:00", "yuan_per_kwh": 9.0}]}
    b.recorder.desired(b.ref, 1, {"tariff": new})
    wait_for(lambda: b.agent.app.cfg.tariff.version == 4, 10, what="tariff v4 applied")
    b.advance(1800, step=300)
    b.command("stop", port=7)
    s = Settlement.model_validate(b.wait_events("charger.settlement")[0].data)
    assert s.tariff_version == 3 and s.mode == "energy_tou"
    # 10:00-11:30 Shanghai: all at 1.0 元/kWh
    assert abs(s.amount_fen - s.energy_wh / 10) <= 1, (s.amount_fen, s.energy_wh)
    assert s.refund_fen == 1000 - s.amount_fen


def test_pay_first_then_plug_and_a_second_card_waits_its_turn(make_bench: Any) -> None:
    b = make_bench()
    b.world.insert_coins(2)  # nobody has plugged in yet: the payment waits for the next plug
    b.advance(3, step=1)
    assert b.ctl.pending_payment is not None and b.ctl.pending_payment["s"] == 2 * 240 * 60
    b.world.swipe("W34:87654321")
    refused = b.wait_events("charger.refused")
    assert "another payment is waiting" in refused[0].data["reason"] and refused[0].data["user"] == "87654321"
    b.pile.plug(9, "ebike_48v_li")
    wait_for(lambda: b.pile.relay_on(9), 5, what="the paid session starting at the plug")
    s = b.ctl.ports[8].session
    assert s is not None and s.source == "coin" and s.prepaid_fen == 200 and s.prepaid_s == 480 * 60
    b.world.insert_coins(1)  # a coin with no plug anywhere free, and nobody plugs in: refused after the wait
    b.advance(3, step=1)
    assert b.ctl.pending_payment is not None
    b.advance(125, step=60)
    reasons = [e.data["reason"] for e in b.events("charger.refused")]
    assert any("no charger plugged in" in r for r in reasons)
